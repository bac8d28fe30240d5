"""The window's dialogs: an error, a model that would not load, About, and the file choosers.

This module is imported when a dialog is first needed (QtWidgets' dialog classes cost
start-up time); message boxes are opened window-modal, so the window keeps painting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from gui.plain_text import MESSAGE_LIMIT, shown

if TYPE_CHECKING:
    from PySide6.QtWidgets import QPushButton, QWidget

    from gui.messages import ModelFailure


def error_box(parent: QWidget, title: str, message: str, details: str = "") -> QMessageBox:
    """A warning with `message` under `title` (and `details` folded away); opened, not run."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setTextFormat(Qt.TextFormat.PlainText)  # names and errors from files, as text
    box.setWindowTitle(title)
    box.setText(title + ".")
    box.setInformativeText(shown(message, MESSAGE_LIMIT, keep_newlines=True))
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()
    return box


class ModelDialog(QMessageBox):
    """No model could be loaded: Retry, Show Folder (when a weights file is missing), Choose
    Weights File…, Use ImageNet Weights (when the failed weights were the user's own), Close.
    `choice` says which was clicked."""

    def __init__(self, parent: QWidget, failure: ModelFailure, own_weights: bool) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Warning)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWindowTitle("The model is not available")
        self.folder = failure.folder
        if failure.file_name and failure.folder:
            self.setText(missing_weights_title(failure.message))
            self.setInformativeText(missing_weights_text(failure.file_name, failure.folder))
            self.setDetailedText(failure.message)
        else:
            self.setText("The model could not be loaded.")
            self.setInformativeText(shown(failure.message, MESSAGE_LIMIT, keep_newlines=True))
        self.retry_button = self.addButton("&Retry", QMessageBox.ButtonRole.AcceptRole)
        self.folder_button: QPushButton | None = None
        if self.folder:
            self.folder_button = self.addButton("Show &Folder", QMessageBox.ButtonRole.ActionRole)
            self.folder_button.setToolTip(f"Open {self.folder} in the file manager")
        self.choose_button = self.addButton(
            "&Choose Weights File…", QMessageBox.ButtonRole.ActionRole
        )
        self.imagenet_button: QPushButton | None = None
        if own_weights:
            self.imagenet_button = self.addButton(
                "Use &ImageNet Weights", QMessageBox.ButtonRole.ActionRole
            )
        self.addButton(QMessageBox.StandardButton.Close)
        self.setDefaultButton(self.retry_button)

    def choice(self, button: QPushButton) -> str:
        """ "retry", "folder", "choose", "imagenet" or "close" for the button clicked."""
        if button is self.retry_button:
            return "retry"
        if self.folder_button is not None and button is self.folder_button:
            return "folder"
        if button is self.choose_button:
            return "choose"
        if self.imagenet_button is not None and button is self.imagenet_button:
            return "imagenet"
        return "close"


def missing_weights_title(message: str) -> str:
    """The dialog's first line: offline, or the download failed for another reason."""
    if message.startswith("This computer is offline"):
        return "This computer is offline, so the ImageNet weights could not be downloaded."
    return "The ImageNet weights could not be downloaded."


def missing_weights_text(file_name: str, folder: str) -> str:
    """Which file is missing, where it goes, and what works without it, in the menus' words."""
    return (
        f"The app needs the file {file_name} (about 98 MB). It looks for it in\n{folder}\n"
        "Copy the file there from a computer that has it (Show Folder opens the folder), "
        "then click Retry.\n\n"
        "Without it you can still classify with a ResNet50 checkpoint of your own "
        "(Choose Weights File…, or Model > Load Weights…), and teach new classes from a "
        "folder starting from that checkpoint (Model > Teach New Classes…)."
    )


def show_folder(folder: str) -> bool:
    """Open `folder` (made first, so there is something to open) in the file manager."""
    from pathlib import Path

    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return QDesktopServices.openUrl(QUrl.fromLocalFile(folder))


def about(parent: QWidget, app_name: str) -> None:
    from core import __version__

    QMessageBox.about(
        parent,
        f"About {app_name}",
        f"<b>{app_name}</b> {__version__}<br>ResNet50 image classification with PyTorch "
        "and torchvision, in a Qt window.",
    )


IMAGE_FILTER = (
    "Images (*.jpg *.jpeg *.png *.webp *.bmp *.gif *.tif *.tiff *.ppm *.pgm *.ico *.jp2 *.avif "
    "*.heic);;All files (*)"
)
WEIGHTS_FILTER = "PyTorch checkpoints (*.pth *.pt *.bin *.ckpt *.safetensors);;All files (*)"
LABELS_FILTER = "Labels (*.txt *.json);;All files (*)"


def open_images(parent: QWidget, folder: str) -> list[str]:
    return QFileDialog.getOpenFileNames(parent, "Open Images", folder, IMAGE_FILTER)[0]


def open_folder(parent: QWidget, folder: str) -> str:
    return QFileDialog.getExistingDirectory(parent, "Open Folder", folder)


def open_weights(parent: QWidget, folder: str) -> str:
    return QFileDialog.getOpenFileName(parent, "Load ResNet50 Weights", folder, WEIGHTS_FILTER)[0]


def open_labels(parent: QWidget, folder: str) -> str:
    return QFileDialog.getOpenFileName(parent, "Load Labels", folder, LABELS_FILTER)[0]
