"""Model > Teach New Classes…: train ResNet50 on a folder of class folders, in the window.

`TeachDialog` presents `TeachModel` (gui/teach_model.py: the folder, the training by request id,
its progress and result, what the buttons may do) and hands it what the user asks for. The
folder and its classes show in `ClassesPanel` (gui/teach_classes.py), the curve and the result
in `ResultPanel` (gui/teach_result.py). The work runs on `TeachWorker` (gui/teach_worker.py), on
its own QThread; the model and the worker talk by queued signals with plain data and ids.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QMimeData, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui import teach_naming
from gui.plain_text import MESSAGE_LIMIT, plain, set_text
from gui.settings import pictures_folder
from gui.teach_classes import ClassesPanel
from gui.teach_model import Actions, ProgressState, Status, TeachModel
from gui.teach_result import ResultPanel
from gui.teach_worker import TeachWorker

if TYPE_CHECKING:
    from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QShowEvent

    from gui.teach_messages import Taught

WEIGHTS_FILTER = "PyTorch checkpoints (*.pth *.pt *.safetensors);;All files (*)"


class TeachDialog(QDialog):
    """Choose or drop a folder of class folders, train, look at the result, use or save it."""

    useModel = Signal(str)  # path of the taught checkpoint: the window loads it
    scanShown = Signal()  # for tests and observers: the classes are on screen
    trainingFinished = Signal(str)  # "done", "cancelled" or "failed"

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        backbone: str | None = None,
        models_dir: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Teach New Classes")
        self.setAcceptDrops(True)
        self.resize(900, 760)
        self.model = TeachModel(models_dir or str(teach_naming.models_dir()), backbone, self)
        self._build()
        self._wire_model()

        self.worker = TeachWorker()
        self.thread = QThread(self)
        self.thread.setObjectName("teach")
        self.worker.moveToThread(self.thread)
        m, w = self.model, self.worker
        m.scanRequested.connect(w.scan)
        m.trainRequested.connect(w.train)
        m.copyRequested.connect(w.copy)
        w.scanned.connect(m.on_scanned)
        w.scanFailed.connect(m.on_scan_failed)
        w.progressed.connect(m.on_progress)
        w.trained.connect(m.on_trained)
        w.trainFailed.connect(m.on_train_failed)
        w.cancelled.connect(m.on_cancelled)
        w.saved.connect(m.on_saved)
        w.saveFailed.connect(m.on_save_failed)
        w.errored.connect(m.on_crashed)
        self.thread.start()
        # Let go without closing, it still ends its thread before Qt deletes that thread.
        self.destroyed.connect(functools.partial(end_thread, self.model, self.thread))
        app = QCoreApplication.instance()
        if app is not None:  # the main window closing quits the app: end the thread first
            app.aboutToQuit.connect(self.shutdown)

    # ---- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        self.classes_panel = ClassesPanel(self)
        self.classes_panel.choose_button.clicked.connect(self.choose_folder)
        root.addWidget(self.classes_panel, 2)

        options = QHBoxLayout()
        options.addWidget(QLabel("Start from:"))
        self.backbone_edit = QLineEdit(self.model.backbone)
        self.backbone_edit.setPlaceholderText("ImageNet weights")
        self.backbone_edit.setReadOnly(True)
        options.addWidget(self.backbone_edit, 1)
        backbone_button = QPushButton("Choose…")
        backbone_button.setToolTip("Start from another ResNet50 checkpoint")
        backbone_button.clicked.connect(self.choose_backbone)
        options.addWidget(backbone_button)
        options.addWidget(QLabel("Epochs:"))
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 500)
        self.epochs_spin.setValue(self.model.epochs)
        options.addWidget(self.epochs_spin)
        self.fine_tune_check = QCheckBox("Also fine-tune the last block")
        self.fine_tune_check.setToolTip("Train layer4 too: slower, sometimes more accurate")
        options.addWidget(self.fine_tune_check)
        self.augment_check = QCheckBox("Augment")
        self.augment_check.setToolTip(
            "Also learn from a randomly cropped, flipped copy of each image: about twice the time"
        )
        options.addWidget(self.augment_check)
        root.addLayout(options)

        run = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_training)
        self.progress = QProgressBar()
        self.progress.setObjectName("teachProgress")
        self.progress.setTextVisible(True)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)  # a long error wraps; it never widens the dialog
        plain(self.status_label)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        run.addWidget(QLabel("Name:"))
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("modelName")
        self.name_edit.setPlaceholderText("named after its classes")
        self.name_edit.setToolTip(
            f"The taught model is kept as NAME.pth in {self.model.models_dir}"
        )
        run.addWidget(self.name_edit, 1)
        run.addWidget(self.train_button)
        run.addWidget(self.cancel_button)
        run.addWidget(self.progress, 2)
        root.addLayout(run)
        root.addWidget(self.status_label)

        self.result_panel = ResultPanel(self)
        root.addWidget(self.result_panel, 3)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.use_button = QPushButton("Use This Model")
        self.use_button.setToolTip("Classify with the model you just taught")
        self.use_button.clicked.connect(self.use_model)
        self.save_button = QPushButton("Save…")
        self.save_button.clicked.connect(self.choose_save)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)
        for button in (self.use_button, self.save_button, close_button):
            buttons.addWidget(button)
        root.addLayout(buttons)

    def _wire_model(self) -> None:
        """The form's edits go to the model; the model's state comes back to the widgets."""
        m = self.model
        self.epochs_spin.valueChanged.connect(m.set_epochs)
        self.fine_tune_check.toggled.connect(m.set_fine_tune)
        self.augment_check.toggled.connect(m.set_augment)
        self.name_edit.textEdited.connect(m.edit_name)
        self.result_panel.wrongChosen.connect(m.choose_wrong)

        m.folderChanged.connect(self.classes_panel.show_folder)
        m.classesChanged.connect(self.classes_panel.show_classes)
        m.scanAnswered.connect(self.scanShown)
        m.nameChanged.connect(self.name_edit.setText)
        m.backboneChanged.connect(self.backbone_edit.setText)
        m.runningChanged.connect(self.result_panel.set_running)
        m.curveCleared.connect(self.result_panel.curve.clear)
        m.epochAdded.connect(self.result_panel.curve.add)
        m.resultChanged.connect(self.result_panel.show_taught)
        m.progressChanged.connect(self._show_progress)
        m.statusChanged.connect(self._show_status)
        m.actionsChanged.connect(self._show_actions)
        m.trainingFinished.connect(self.trainingFinished)
        m.useModel.connect(self.useModel)
        self._show_progress(m.progress)
        self._show_status(m.status)
        self._show_actions(m.actions)

    # ---- presenting the model --------------------------------------------------------------
    def _show_progress(self, p: ProgressState) -> None:
        self.progress.setRange(0, p.maximum)
        self.progress.setValue(p.value)
        self.progress.setFormat(p.text)

    def _show_status(self, status: Status) -> None:
        self.status_label.setStyleSheet("color: #c0392b;" if status.error else "")
        set_text(self.status_label, status.text, MESSAGE_LIMIT)

    def _show_actions(self, actions: Actions) -> None:
        self.classes_panel.choose_button.setEnabled(actions.choose_folder)
        self.train_button.setEnabled(actions.train)
        self.cancel_button.setEnabled(actions.cancel)
        self.use_button.setEnabled(actions.use)
        self.save_button.setEnabled(actions.save)

    # ---- what the user asks for ------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = self.model.folder
        start = str(Path(folder).parent) if folder else pictures_folder()
        chosen = QFileDialog.getExistingDirectory(self, "Folder of Class Folders", start)
        if chosen:
            self.set_folder(chosen)

    def set_folder(self, folder: str) -> None:
        """List the classes of `folder` (on the worker); `scanShown` says when they show."""
        self.model.set_folder(folder)

    def choose_backbone(self) -> None:
        current = self.model.backbone
        start = str(Path(current).parent) if current else pictures_folder()
        path, _ = QFileDialog.getOpenFileName(
            self, "Start From a ResNet50 Checkpoint", start, WEIGHTS_FILTER
        )
        if path:
            self.model.choose_backbone(path)

    def follow_model(self, weights: str | None) -> None:
        """Start from the model the window uses (None: ImageNet), unless the user chose one."""
        self.model.follow_model(weights)

    def start_training(self) -> None:
        self.model.start_training()

    def cancel_training(self) -> None:
        self.model.cancel_training()

    def show_result(self, taught: Taught) -> None:
        """Show a finished training: accuracy, curve, confusion matrix, mistakes; Use and Save."""
        self.model.show_result(taught)

    def use_model(self) -> None:
        self.model.use_model()

    def choose_save(self) -> None:
        taught = self.model.taught
        if taught is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the Taught Model", Path(taught.path).name, WEIGHTS_FILTER
        )
        if path:
            self.save_to(path)

    def save_to(self, path: str) -> None:
        """Copy the taught checkpoint to `path` (on the worker); `worker.saved` says when."""
        self.model.save_to(path)

    # ---- drops and closing -----------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        folder = dropped_folder(event.mimeData())
        if folder is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.set_folder(folder)

    def showEvent(self, event: QShowEvent) -> None:
        if not self.thread.isRunning():
            self.thread.start()
        super().showEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing cancels a running training (it stops at its next batch) and ends the
        thread; showing the dialog again starts it again."""
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel and end the worker thread; True if it ended in time."""
        return end_thread(self.model, self.thread, timeout_ms=timeout_ms)


def end_thread(model: TeachModel, thread: QThread, *_: object, timeout_ms: int = 30_000) -> bool:
    """Cancel the training, if one runs, and end the worker's thread; True if it ended."""
    model.cancel_training()
    thread.quit()
    return thread.wait(timeout_ms)


def dropped_folder(mime: QMimeData) -> str | None:
    """The one local folder dropped, or None (files, several things, remote URLs)."""
    urls = [u for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
    if len(urls) == 1 and Path(urls[0].toLocalFile()).is_dir():
        return urls[0].toLocalFile()
    return None
