"""Which model the window classifies with, and on which device.

File > Load Weights…, Load Labels… and Use ImageNet Weights; the dialog that comes when no
model could be loaded; Model > Teach New Classes…, whose taught model can be used here; the
Device menu and Help > Devices…. What the user chooses is remembered in the settings when the
window is interactive. The loading itself is the model state's (gui/model_state.py), on the worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMainWindow, QPushButton

    from core import DeviceInfo, ModelInfo
    from gui.current_item_view import CurrentItemView
    from gui.dialogs import ModelDialog
    from gui.menus import Menus
    from gui.messages import ModelFailure
    from gui.model_state import ModelState
    from gui.settings import Settings
    from gui.status import StatusBar
    from gui.teach_dialog import TeachDialog


class ModelControl(QObject):
    ready = Signal(object)  # ModelInfo: a model is loaded
    problem = Signal(str)  # the model could not be loaded (message as the CLI prints it)
    deviceProblem = Signal(str)
    notice = Signal(str)  # a sentence for the notice over the photo
    failed = Signal(str, str)  # title, message: for an error box

    def __init__(
        self,
        window: QMainWindow,
        model: ModelState,
        settings: Settings,
        menus: Menus,
        status_bar: StatusBar,
        shown: CurrentItemView,
        interactive: bool,
    ) -> None:
        super().__init__(window)
        self.window, self.model, self.settings, self.menus = window, model, settings, menus
        self.status_bar, self.shown, self.interactive = status_bar, shown, interactive
        self.dialog: ModelDialog | None = None
        self.retry_button: QPushButton | None = None
        self.choose_button: QPushButton | None = None
        self.teach_dialog: TeachDialog | None = None
        model.modelLoaded.connect(self._on_loaded)
        model.modelFailed.connect(self._on_failed)
        model.devicesListed.connect(self._on_devices)
        model.deviceChanged.connect(self._on_device_changed)
        model.deviceFailed.connect(self._on_device_failed)
        menus.weights_action.triggered.connect(self.choose_weights)
        menus.labels_action.triggered.connect(self.choose_labels)
        menus.imagenet_action.triggered.connect(self.use_imagenet)
        menus.teach_action.triggered.connect(self.open_teach_dialog)
        menus.devices_action.triggered.connect(self.show_devices)
        menus.deviceChosen.connect(model.switch_device)

    # ---- loading -----------------------------------------------------------------------------
    def load_weights(self, path: str, labels: str | None = None) -> None:
        """Load the user's checkpoint (and labels); on failure the current model stays."""
        self.model.load(path, labels, remember=True)

    def use_imagenet(self) -> None:
        self.model.load(None, None, remember=True)

    def choose_weights(self) -> None:
        from gui import dialogs

        path = dialogs.open_weights(self.window, self._folder_of(self.model.weights))
        if path:
            self.load_weights(path)

    def choose_labels(self) -> None:
        from gui import dialogs

        s = self.model
        path = dialogs.open_labels(self.window, self._folder_of(s.labels or s.weights))
        if path:
            s.load(s.weights, path, remember=True)

    def _folder_of(self, path: str | None) -> str:
        return str(Path(path).parent) if path else self.settings.last_folder

    def _on_loaded(self, info: ModelInfo) -> None:
        self.status_bar.progress.setVisible(False)
        if self.model.remember and self.interactive:
            self.settings.weights, self.settings.labels = self.model.pending
        self._check_device(info.device)
        self.status_bar.show_ready(self.model.info)
        if info.notes:  # class names it stores that do not fit, say
            self.notice.emit(" ".join(info.notes))
        self.ready.emit(info)

    def _on_failed(self, failure: ModelFailure) -> None:
        self.status_bar.progress.setVisible(False)
        self.problem.emit(failure.message)
        if self.model.info is not None:
            self.status_bar.show_ready(self.model.info)
            self.failed.emit("The weights could not be loaded", failure.message)
            return
        self.status_bar.say(
            "No model loaded. Use Model > Load Weights… or Model > Use ImageNet Weights."
        )
        self.shown.refresh()
        if not self.interactive:
            return
        from gui.dialogs import ModelDialog

        box = ModelDialog(self.window, failure, own_weights=self.model.pending[0] is not None)
        self.dialog = box
        self.retry_button, self.choose_button = box.retry_button, box.choose_button
        box.buttonClicked.connect(lambda button: self._dialog_done(box.choice(button)))
        box.open()

    def _dialog_done(self, choice: str) -> None:
        box, self.dialog = self.dialog, None
        if choice == "folder" and box is not None:
            from gui.dialogs import show_folder

            show_folder(box.folder or "")
            self.dialog = box  # the folder is open beside it: the choice is still to be made
            QTimer.singleShot(0, box.open)
        elif choice == "retry":
            self.model.retry_load()
        elif choice == "choose":
            QTimer.singleShot(0, self.choose_weights)
        elif choice == "imagenet":
            self.model.load(None, None, remember=True)

    def open_teach_dialog(self) -> None:
        """Model > Teach New Classes…: one dialog, kept, whose taught model the window can use."""
        from gui.teach_dialog import TeachDialog

        if self.teach_dialog is None:
            self.teach_dialog = TeachDialog(self.window)
            self.teach_dialog.useModel.connect(self.load_weights)
        self.teach_dialog.follow_model(self.model.weights)  # offline, ImageNet cannot be had
        self.teach_dialog.show()

    # ---- the device --------------------------------------------------------------------------
    def _on_devices(self, devices: list[DeviceInfo]) -> None:
        self.menus.set_devices(devices)
        if self.model.info is not None:
            self._check_device(self.model.info.device)
        from gui.devices_dialog import explain_missing_gpu

        explain_missing_gpu(self.menus.device_menu, self.show_devices)  # its tooltips say why

    def show_devices(self) -> None:
        """Help > Devices…: every device torch can use, and why a GPU is missing."""
        from gui.devices_dialog import DevicesDialog

        DevicesDialog(self.window).open()

    def _on_device_changed(self, info: ModelInfo) -> None:
        if self.interactive:
            self.settings.device = info.device
        self._check_device(info.device)
        self.status_bar.show_ready(self.model.info)

    def _on_device_failed(self, message: str) -> None:
        self.deviceProblem.emit(message)
        model = self.model.info
        if model is None:  # while loading: the worker fell back to the CPU
            self.notice.emit(f"{message} The model runs on the CPU instead.")
            return
        self.notice.emit(f"Could not switch device: {message}")
        self._check_device(model.device)
        self.status_bar.show_ready(model)

    def _check_device(self, device: str) -> None:
        self.menus.check_device(device)
        model = self.model.info
        self.status_bar.show_device(model.device_name if model is not None else None)
