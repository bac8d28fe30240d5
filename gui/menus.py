"""The window's menus and their actions (File, Model, Device, View, Help), with their shortcuts.

The actions are the user's intents; the window connects their `triggered` to what carries
them out. The Device menu is filled when the worker has listed the devices and reports a
choice through `deviceChosen`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMainWindow

    from core import DeviceInfo

HEAT_TIP = "Where the model found the selected prediction (Grad-CAM); click a bar for another class"


class Menus(QObject):
    """Builds the menu bar of `window` and holds its actions."""

    deviceChosen = Signal(str)  # a device id from the Device menu

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self._window = window
        std = QKeySequence.StandardKey
        self.open_action = self._action("&Open Images…", std.Open, "Classify image files")
        self.open_folder_action = self._action(
            "Open &Folder…", "Ctrl+Shift+O", "Classify every image in a folder"
        )
        self.paste_action = self._action("&Paste Image", std.Paste, "Classify the copied image")
        self.weights_action = self._action(
            "Load &Weights…", "Ctrl+L", "Use your own ResNet50 checkpoint (.pth, .pt, .safetensors)"
        )
        self.labels_action = self._action(
            "Load La&bels…", None, "Class names: text (one per line) or JSON"
        )
        self.imagenet_action = self._action(
            "Use &ImageNet Weights", None, "Go back to torchvision's ResNet50 trained on ImageNet"
        )
        self.export_action = self._action(
            "&Export Results…",
            "Ctrl+E",
            "Save the table's results as CSV or JSON, in resnet-classify's format",
        )
        self.export_action.setEnabled(False)
        self.keywords_action = self._action(
            "Write &Keywords…", None, "Write the predictions into the photos as XMP keywords"
        )
        self.sort_action = self._action(
            "&Sort Into Folders…", None, "Copy or move the photos into one folder per label"
        )
        self.quit_action = self._action("&Quit", std.Quit, None)
        file_menu = window.menuBar().addMenu("&File")
        for action in (self.open_action, self.open_folder_action, self.paste_action):
            file_menu.addAction(action)
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.keywords_action)
        file_menu.addAction(self.sort_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        self.teach_action = self._action(
            "&Teach New Classes…",
            None,
            "Train the model on your own classes: a folder of class folders",
        )
        model_menu = window.menuBar().addMenu("&Model")
        for action in (self.weights_action, self.labels_action, self.imagenet_action):
            model_menu.addAction(action)
        model_menu.addSeparator()
        model_menu.addAction(self.teach_action)
        self.review_action = self._action(
            "&Review Least Sure…", "Ctrl+R", "Walk the unsure photos, least sure first"
        )
        self.reteach_action = self._action(
            "Teach from &Corrections",
            None,
            "Retrain on your corrections (and the taught model's examples), then re-classify",
        )
        model_menu.addAction(self.review_action)
        model_menu.addAction(self.reteach_action)
        for action in (self.keywords_action, self.sort_action, self.review_action):
            action.setEnabled(False)  # until there are results (`gui.library` enables them)

        self.device_menu = window.menuBar().addMenu("&Device")
        self.device_menu.setToolTipsVisible(True)
        self.device_group = QActionGroup(window)
        self.device_group.setExclusive(True)
        waiting = self.device_menu.addAction("Looking for devices…")
        waiting.setEnabled(False)

        self.next_action = self._action("&Next Image", "Ctrl+Right", None)
        self.prev_action = self._action("&Previous Image", "Ctrl+Left", None)
        self.heat_action = self._action("Show &Heat Map", "Ctrl+Shift+H", HEAT_TIP)
        self.heat_action.setIconText("Show heat map")
        self.heat_action.setCheckable(True)
        view_menu = window.menuBar().addMenu("&View")
        view_menu.addAction(self.heat_action)
        view_menu.addSeparator()
        view_menu.addAction(self.next_action)
        view_menu.addAction(self.prev_action)

        self.guide_action = self._action(
            "&User Guide", "F1", "How to use the window, and what to do offline"
        )
        self.shortcuts_action = self._action("&Keyboard Shortcuts", None, None)
        self.about_action = self._action("&About", None, None)
        self.devices_action = self._action(
            "&Devices…", None, "Every device the model can run on, and why a GPU is missing"
        )
        help_menu = window.menuBar().addMenu("&Help")
        help_menu.addAction(self.guide_action)
        help_menu.addAction(self.shortcuts_action)
        help_menu.addSeparator()
        help_menu.addAction(self.devices_action)
        help_menu.addAction(self.about_action)

    def _action(self, text: str, shortcut: object, tip: str | None) -> QAction:
        action = QAction(text, self._window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        self._window.addAction(action)
        return action

    def set_devices(self, devices: list[DeviceInfo]) -> None:
        """One checkable entry per device the worker found."""
        self.device_menu.clear()
        for action in self.device_group.actions():
            self.device_group.removeAction(action)
        for device in devices:
            action = QAction(device.name, self._window)
            action.setCheckable(True)
            action.setData(device.id)
            action.setToolTip(f"Run the model on {device.name} ({device.id})")
            action.triggered.connect(lambda _=False, d=device.id: self.deviceChosen.emit(d))
            self.device_group.addAction(action)
            self.device_menu.addAction(action)

    def check_device(self, device: str) -> None:
        for action in self.device_group.actions():
            action.setChecked(action.data() == device)

    def device_actions(self) -> list[QAction]:
        return list(self.device_group.actions())

    def shortcuts(self) -> list[tuple[str, str]]:
        """(what, keys) for every action with a shortcut, in menu order, as the user reads them."""
        rows = []
        for menu_action in self._window.menuBar().actions():
            menu = menu_action.menu()
            for action in menu.actions() if menu is not None else ():
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                if keys:
                    rows.append((action.text().replace("&", "").rstrip("…"), keys))
        return rows
