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
    """No model could be loaded: Retry, Choose Weights File…, Use ImageNet Weights (when the
    failed weights were the user's own), Close. `choice` says which was clicked."""

    def __init__(self, parent: QWidget, failure: ModelFailure, own_weights: bool) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Warning)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWindowTitle("The model is not available")
        if failure.offline:
            self.setText("The ResNet50 ImageNet weights could not be downloaded.")
        else:
            self.setText("The model could not be loaded.")
        self.setInformativeText(shown(failure.message, MESSAGE_LIMIT, keep_newlines=True))
        self.retry_button = self.addButton("&Retry", QMessageBox.ButtonRole.AcceptRole)
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
        """ "retry", "choose", "imagenet" or "close" for the button clicked."""
        if button is self.retry_button:
            return "retry"
        if button is self.choose_button:
            return "choose"
        if self.imagenet_button is not None and button is self.imagenet_button:
            return "imagenet"
        return "close"


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
