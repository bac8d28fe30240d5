"""Help > Devices…: every device PyTorch can use here, and why a GPU is missing.

The report (`core.devices.device_report`) asks torch and the NVIDIA driver, which takes a moment
and imports torch, so it is made on a thread of its own and handed to the UI thread by a queued
signal; the dialog and the Device menu's tooltip only show it.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMenu,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from core import DeviceReport

NO_GPU_ACTION = "No GPU — why?"


class DeviceReportLoader(QObject):
    """Makes the device report on a background thread; `ready` carries it to this object's
    thread (or `failed` a message)."""

    ready = Signal(object)  # DeviceReport
    failed = Signal(str)

    def start(self) -> None:
        threading.Thread(target=self._run, name="device-report", daemon=True).start()

    def _run(self) -> None:
        try:
            from core import device_report

            report = device_report()
        except Exception as exc:  # the dialog says so rather than staying empty
            self.failed.emit(f"The devices could not be listed: {exc}")
            return
        self.ready.emit(report)


def report_html(report: DeviceReport) -> str:
    """The report as the dialog shows it: a table of devices, then the reason if any."""
    build = f"CUDA {report.torch_cuda} build" if report.torch_cuda else "CPU-only build"
    rows = []
    for d in report.devices:
        details = [
            ("Memory", f"{d.memory_bytes / 2**30:.1f} GiB" if d.memory_bytes else None),
            ("Cores", str(d.cores) if d.cores else None),
            ("Compute capability", d.compute_capability),
            ("Driver", d.driver),
            ("CUDA runtime", d.cuda_runtime),
            ("cuDNN", d.cudnn),
        ]
        cells = "<br>".join(
            f"{html.escape(k)}: {html.escape(v)}" for k, v in details if v is not None
        )
        rows.append(
            f"<tr><td><b>{html.escape(d.id)}</b></td><td>{html.escape(d.name)}<br>"
            f"<span style='color:gray'>{cells}</span></td></tr>"
        )
    parts = [
        f"<p>PyTorch {html.escape(report.torch_version)} ({build})</p>",
        "<table cellspacing='6'>" + "".join(rows) + "</table>",
    ]
    if report.gpu_missing:
        parts.append(f"<p><b>No GPU can be used:</b> {html.escape(report.gpu_missing)}</p>")
    return "".join(parts)


class DevicesDialog(QDialog):
    """Lists the devices; Copy puts the plain-text report on the clipboard for a bug report."""

    def __init__(self, parent: QWidget | None = None, loader: DeviceReportLoader | None = None):
        super().__init__(parent)
        self.setWindowTitle("Devices")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(560, 340)
        self.report: DeviceReport | None = None
        self.status = QLabel("Looking at this computer's devices…")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setEnabled(False)
        self.copy_button.setToolTip("Copy this report as text, for a bug report")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self.copy)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.loader = loader or DeviceReportLoader(self)
        self.loader.ready.connect(self.show_report)
        self.loader.failed.connect(self.status.setText)
        if loader is None:
            self.loader.start()

    def show_report(self, report: DeviceReport) -> None:
        self.report = report
        gpus = len(report.devices) - 1
        self.status.setText(
            f"This computer: {gpus} GPU{'s' if gpus != 1 else ''} and the CPU"
            if gpus
            else "This computer: the CPU only"
        )
        self.browser.setHtml(report_html(report))
        self.copy_button.setEnabled(True)

    def copy(self) -> None:
        if self.report is not None:
            QGuiApplication.clipboard().setText(self.report.to_text())


def explain_missing_gpu(
    menu: QMenu, show_devices: Callable[[], None], *, start: bool = True
) -> DeviceReportLoader:
    """When no GPU is usable, say why in the Device menu: in its tooltip, in each device's, and
    as a last item that opens Help > Devices…. Nothing changes where a GPU works."""
    loader = DeviceReportLoader(menu)

    def on_ready(report: DeviceReport) -> None:
        if not report.gpu_missing:
            return
        reason = f"No GPU can be used: {report.gpu_missing}"
        # rich text, so that Qt wraps the sentence instead of drawing one screen-wide line
        tip = f"<qt>{html.escape(reason, quote=False)}</qt>"
        menu.menuAction().setToolTip(tip)
        for action in menu.actions():
            if action.text() != NO_GPU_ACTION and reason not in action.toolTip():
                own = html.escape(action.toolTip(), quote=False)
                action.setToolTip(f"<qt>{own}<br><br>{html.escape(reason, quote=False)}</qt>")
        if not any(a.text() == NO_GPU_ACTION for a in menu.actions()):
            menu.addSeparator()
            why = QAction(NO_GPU_ACTION, menu)
            why.setToolTip(tip)
            why.setStatusTip(reason)
            why.triggered.connect(show_devices)
            menu.addAction(why)

    loader.ready.connect(on_ready)
    if start:
        loader.start()
    return loader
