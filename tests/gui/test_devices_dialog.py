"""Help > Devices… and the Device menu's tooltip: why a GPU is missing, in the window."""

from __future__ import annotations

from dataclasses import replace

from dnd import MODEL_TIMEOUT_MS
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMenu

from core.devices import SystemFacts, device_report
from gui.devices_dialog import NO_GPU_ACTION, DevicesDialog, explain_missing_gpu

OLD_DRIVER = SystemFacts(
    platform="linux",
    torch_version="2.11.0+cu130",
    torch_cuda="13.0",
    cuda_available=False,
    device_count=0,
    visible_devices=None,
    driver_version="470.57.02",
    driver_cuda="11.4",
)


def test_the_dialog_lists_the_devices_and_says_why_there_is_no_gpu(qtbot):
    report = device_report(OLD_DRIVER)
    dialog = DevicesDialog(loader=_idle_loader())
    qtbot.addWidget(dialog)
    dialog.show()
    assert "Looking" in dialog.status.text() and not dialog.copy_button.isEnabled()
    dialog.loader.ready.emit(report)
    text = dialog.browser.toPlainText()
    assert "cpu" in text and "No GPU can be used" in text and "470.57.02" in text
    assert dialog.status.text() == "This computer: the CPU only"
    dialog.copy_button.click()
    assert "older than the CUDA 13.0" in QGuiApplication.clipboard().text()


def test_the_dialog_asks_this_machine_on_a_thread(qtbot):
    dialog = DevicesDialog()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=30_000)
    assert "cpu" in dialog.browser.toPlainText()
    assert dialog.copy_button.isEnabled()


def test_the_device_menu_says_why_and_offers_the_dialog(qtbot):
    menu = QMenu("Device")
    qtbot.addWidget(menu)
    cpu = QAction("CPU (Xeon)", menu)
    cpu.setToolTip("Run the model on CPU (Xeon) (cpu)")
    menu.addAction(cpu)
    opened = []
    loader = explain_missing_gpu(menu, lambda: opened.append(True), start=False)
    hidden = replace(OLD_DRIVER, driver_cuda="13.0", visible_devices="")
    loader.ready.emit(device_report(hidden))
    assert "CUDA_VISIBLE_DEVICES is set to ''" in menu.menuAction().toolTip()
    assert "Run the model on CPU" in cpu.toolTip() and "Unset it" in cpu.toolTip()
    why = menu.actions()[-1]
    assert why.text() == NO_GPU_ACTION and "CUDA_VISIBLE_DEVICES" in why.toolTip()
    why.trigger()
    assert opened == [True]


def test_help_devices_opens_from_the_window(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.start()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    devices = next(a for a in help_menu.actions() if a.text() == "&Devices…")
    devices.trigger()
    dialog = window.findChild(DevicesDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=30_000)
    if dialog.report.gpu_missing:  # this machine: the menu says why too
        qtbot.waitUntil(
            lambda: window.menus.device_menu.actions()[-1].text() == NO_GPU_ACTION, timeout=30_000
        )
        assert dialog.report.gpu_missing in window.menus.device_menu.menuAction().toolTip()


def _idle_loader():
    from gui.devices_dialog import DeviceReportLoader

    return DeviceReportLoader()
