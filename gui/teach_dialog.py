"""Model > Teach New Classes…: train ResNet50 on a folder of class folders, in the window.

`TeachDialog` presents and wires: the form (folder, options, Train), the run's progress and
the result (accuracy curve, confusion matrix, the held-out images it got wrong). The work
runs on `TeachWorker` (gui/teach_worker.py), on its own QThread; they talk by queued signals
with plain data and request ids.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSize, Qt, QThread, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import elide_middle, printable
from gui import teach_naming
from gui.accuracy_curve import AccuracyCurve
from gui.confusion_model import ConfusionView
from gui.plain_text import MESSAGE_LIMIT, NAME_LIMIT, bold_name, escaped_html, plain, set_text, tip
from gui.settings import pictures_folder
from gui.teach_worker import THUMB_SIDE, THUMBS_PER_CLASS, Scan, Taught, TeachWorker, TrainRequest

log = logging.getLogger(__name__)

WEIGHTS_FILTER = "PyTorch checkpoints (*.pth *.pt *.safetensors);;All files (*)"
WARNING_LINES = 5  # the folder's warnings show in this many lines, and scroll


# ---- the dialog ------------------------------------------------------------------------------
class TeachDialog(QDialog):
    """Choose or drop a folder of class folders, train, look at the result, use or save it."""

    useModel = Signal(str)  # path of the taught checkpoint: the window loads it
    scanRequested = Signal(int, str)
    trainRequested = Signal(object)
    copyRequested = Signal(str, str)
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
        self.folder: str | None = None
        self.taught: Taught | None = None
        self._request = 0
        self.wrong_caption = ""
        self._training: TrainRequest | None = None
        self._models_dir = models_dir or str(teach_naming.models_dir())
        self._named_by_user = False  # the name field keeps what the user typed
        self._backbone_chosen = False  # "Start from" follows the window's model until chosen
        self._build(backbone)

        self.worker = TeachWorker()
        self.thread = QThread(self)
        self.thread.setObjectName("teach")
        self.worker.moveToThread(self.thread)
        self.scanRequested.connect(self.worker.scan)
        self.trainRequested.connect(self.worker.train)
        self.copyRequested.connect(self.worker.copy)
        self.worker.scanned.connect(self._on_scanned)
        self.worker.scanFailed.connect(self._on_scan_failed)
        self.worker.progressed.connect(self._on_progress)
        self.worker.trained.connect(self._on_trained)
        self.worker.trainFailed.connect(self._on_train_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.saved.connect(lambda path: self._say(f"Saved {path}."))
        self.worker.saveFailed.connect(lambda text: self._say(text, error=True))
        self.worker.errored.connect(lambda summary, _details: self._on_train_failed(-1, summary))
        self.thread.start()
        app = QCoreApplication.instance()
        if app is not None:  # the main window closing quits the app: end the thread first
            app.aboutToQuit.connect(self.shutdown)

    # ---- layout ----------------------------------------------------------------------------
    def _build(self, backbone: str | None) -> None:
        root = QVBoxLayout(self)

        row = QHBoxLayout()
        self.folder_label = QLabel(
            "Drop a folder here, or choose one: it must hold one sub-folder of images per class."
        )
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextFormat(Qt.TextFormat.RichText)  # our bold; names escaped
        self.choose_button = QPushButton("Choose Folder…")
        self.choose_button.clicked.connect(self.choose_folder)
        row.addWidget(self.folder_label, 1)
        row.addWidget(self.choose_button)
        root.addLayout(row)

        self.classes_table = QTableWidget(0, 3)
        self.classes_table.setHorizontalHeaderLabels(["Class", "Images", "Examples"])
        self.classes_table.verticalHeader().setVisible(False)
        self.classes_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.classes_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.classes_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.classes_table.verticalHeader().setDefaultSectionSize(THUMB_SIDE + 8)
        self.classes_table.setIconSize(QSize(THUMBS_PER_CLASS * (THUMB_SIDE + 4), THUMB_SIDE))
        root.addWidget(self.classes_table, 2)

        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b35c00;")
        plain(self.warning_label)
        # A warning per class can make hundreds of lines: they scroll in a few lines' height.
        self.warnings = QScrollArea()
        self.warnings.setWidget(self.warning_label)
        self.warnings.setWidgetResizable(True)
        self.warnings.setFrameShape(QFrame.Shape.NoFrame)
        self.warnings.setMaximumHeight(self.fontMetrics().lineSpacing() * WARNING_LINES + 8)
        self.warnings.setVisible(False)
        root.addWidget(self.warnings)

        options = QHBoxLayout()
        options.addWidget(QLabel("Start from:"))
        self.backbone_edit = QLineEdit(backbone or "")
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
        self.epochs_spin.setValue(30)
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
        self.train_button.setEnabled(False)
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_training)
        self.progress = QProgressBar()
        self.progress.setObjectName("teachProgress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)  # a long error wraps; it never widens the dialog
        plain(self.status_label)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        run.addWidget(QLabel("Name:"))
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("modelName")
        self.name_edit.setPlaceholderText("named after its classes")
        self.name_edit.setToolTip(f"The taught model is kept as NAME.pth in {self._models_dir}")
        self.name_edit.textEdited.connect(lambda _: setattr(self, "_named_by_user", True))
        run.addWidget(self.name_edit, 1)
        run.addWidget(self.train_button)
        run.addWidget(self.cancel_button)
        run.addWidget(self.progress, 2)
        root.addLayout(run)
        root.addWidget(self.status_label)

        result = QGridLayout()
        self.accuracy_label = QLabel()
        font = self.accuracy_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.accuracy_label.setFont(font)
        self.accuracy_label.setWordWrap(True)  # the unsure-threshold line is long
        result.addWidget(self.accuracy_label, 0, 0, 1, 2)
        self.curve = AccuracyCurve()
        result.addWidget(self.curve, 1, 0)
        self.confusion_table = ConfusionView()
        confusion_box = QVBoxLayout()
        self.confusion_title = QLabel("Confusion matrix (rows: true class, columns: predicted)")
        confusion_box.addWidget(self.confusion_title)
        confusion_box.addWidget(self.confusion_table)
        confusion_box.addStretch(1)  # the matrix is as tall as its rows; the rest stays free
        result.addLayout(confusion_box, 1, 1)
        self.wrong_title = QLabel("Held-out images it got wrong (click one to see it):")
        result.addWidget(self.wrong_title, 2, 0, 1, 2)
        self.wrong_list = QListWidget()
        self.wrong_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.wrong_list.setIconSize(QSize(64, 64))
        self.wrong_list.setMaximumHeight(110)
        self.wrong_list.setFlow(QListWidget.Flow.LeftToRight)
        self.wrong_list.setWrapping(False)
        self.wrong_list.currentRowChanged.connect(self.show_wrong)
        result.addWidget(self.wrong_list, 3, 0)
        self.wrong_view = QLabel()
        self.wrong_view.setFrameShape(QFrame.Shape.StyledPanel)
        self.wrong_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.wrong_view.setWordWrap(True)
        self.wrong_view.setMinimumHeight(110)
        result.addWidget(self.wrong_view, 3, 1)
        result.setColumnStretch(0, 1)
        result.setColumnStretch(1, 1)
        root.addLayout(result, 3)
        self._show_result_widgets(False)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.use_button = QPushButton("Use This Model")
        self.use_button.setToolTip("Classify with the model you just taught")
        self.use_button.clicked.connect(self.use_model)
        self.save_button = QPushButton("Save…")
        self.save_button.clicked.connect(self.choose_save)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)
        for button in (self.use_button, self.save_button):
            button.setEnabled(False)
            buttons.addWidget(button)
        buttons.addWidget(close_button)
        root.addLayout(buttons)

    def _show_result_widgets(self, shown: bool) -> None:
        self.curve.setVisible(shown or self._training is not None)
        for widget in (self.accuracy_label, self.confusion_table, self.confusion_title):
            widget.setVisible(shown)
        has_wrong = bool(shown and self.taught and self.taught.wrong)
        for widget in (self.wrong_title, self.wrong_list, self.wrong_view):
            widget.setVisible(has_wrong)

    # ---- choosing the folder ---------------------------------------------------------------
    def choose_folder(self) -> None:
        start = str(Path(self.folder).parent) if self.folder else pictures_folder()
        folder = QFileDialog.getExistingDirectory(self, "Folder of Class Folders", start)
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str) -> None:
        """List the classes of `folder` (on the worker); the answer shows in the table."""
        self.folder = folder
        self._request += 1
        self._clear_result()
        self.train_button.setEnabled(False)
        self.folder_label.setText(f"{bold_name(Path(folder).name or folder)}: looking for classes…")
        self.scanRequested.emit(self._request, folder)

    def choose_backbone(self) -> None:
        current = self.backbone_edit.text()
        start = str(Path(current).parent) if current else pictures_folder()
        path, _ = QFileDialog.getOpenFileName(
            self, "Start From a ResNet50 Checkpoint", start, WEIGHTS_FILTER
        )
        if path:
            self._backbone_chosen = True
            self.backbone_edit.setText(path)
            self._say("")  # whatever failed with the previous backbone is no longer so

    def follow_model(self, weights: str | None) -> None:
        """Start from the model the window uses (None: ImageNet), unless the user chose one."""
        if not self._backbone_chosen and self._training is None:
            self.backbone_edit.setText(weights or "")

    def _clear_result(self) -> None:
        """A new folder: nothing of the previous one's training stays on screen."""
        self.taught = None
        self.curve.clear(self.epochs_spin.value())
        self.wrong_list.clear()
        self.wrong_view.clear()
        self.confusion_table.set_matrix((), ())
        self.accuracy_label.clear()
        self._show_result_widgets(False)
        self.use_button.setEnabled(False)
        self.save_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self._say("")

    def _on_scanned(self, request_id: int, scan: Scan) -> None:
        if request_id != self._request:
            return
        total = sum(c.count for c in scan.classes)
        self.folder_label.setText(
            f"{bold_name(Path(scan.folder).name)}: {len(scan.classes)} classes, {total} images"
        )
        self.classes_table.setRowCount(len(scan.classes))
        for row, found in enumerate(scan.classes):
            name = QTableWidgetItem(elide_middle(printable(found.name), NAME_LIMIT))
            name.setToolTip(tip(found.name))
            self.classes_table.setItem(row, 0, name)
            count = QTableWidgetItem(str(found.count))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.classes_table.setItem(row, 1, count)
            strip = QTableWidgetItem()
            strip.setIcon(QIcon(QPixmap.fromImage(found.strip)))
            self.classes_table.setItem(row, 2, strip)
        notes = [f"⚠ {elide_middle(printable(w), MESSAGE_LIMIT)}" for w in scan.warnings]
        if scan.unreadable:
            listed = scan.unreadable[:8]
            more = len(scan.unreadable) - len(listed)
            notes.append(
                "⚠ Left out, cannot be read: "
                + "; ".join(elide_middle(printable(u), NAME_LIMIT) for u in listed)
                + (f"; and {more} more" if more else "")
            )
        self.warning_label.setText("\n".join(notes))
        self.warnings.setVisible(bool(notes))
        if not self._named_by_user:
            self.name_edit.setText(teach_naming.model_name([c.name for c in scan.classes]))
        self.train_button.setEnabled(self._training is None)
        self.scanShown.emit()

    def _on_scan_failed(self, request_id: int, message: str) -> None:
        if request_id != self._request:
            return
        self.classes_table.setRowCount(0)
        self.warnings.setVisible(False)
        self.folder_label.setText(escaped_html(message))
        self.scanShown.emit()

    def class_rows(self) -> list[tuple[str, int, bool]]:
        """(name, image count, has thumbnails) per listed class, as shown."""
        t = self.classes_table
        return [
            (t.item(r, 0).text(), int(t.item(r, 1).text()), not t.item(r, 2).icon().isNull())
            for r in range(t.rowCount())
        ]

    # ---- training --------------------------------------------------------------------------
    def start_training(self) -> None:
        if self.folder is None or self._training is not None:
            return
        self._request += 1
        self._training = TrainRequest(
            request_id=self._request,
            folder=self.folder,
            backbone=self.backbone_edit.text() or None,
            epochs=self.epochs_spin.value(),
            fine_tune=self.fine_tune_check.isChecked(),
            augment=self.augment_check.isChecked(),
            out_dir=self._models_dir,
            name=self.name_edit.text().strip(),
        )
        self.taught = None
        self.curve.clear(self.epochs_spin.value())
        self._show_result_widgets(False)
        for widget in (self.train_button, self.choose_button, self.use_button, self.save_button):
            widget.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.setFormat("Loading the backbone…")
        self._say("Loading the backbone…")
        self.trainRequested.emit(self._training)

    def cancel_training(self) -> None:
        if self._training is not None:
            self._training.cancel.set()
            self.cancel_button.setEnabled(False)
            self._say("Cancelling…")

    def _current(self, request_id: int) -> bool:
        return self._training is not None and request_id == self._training.request_id

    def _on_progress(self, request_id: int, p: Any) -> None:
        if not self._current(request_id):
            return
        if p.stage == "features":
            self.progress.setRange(0, max(p.total, 1))
            self.progress.setValue(p.done)
            self.progress.setFormat("Reading images: %v of %m")
            self._say(f"Reading images: {p.done} of {p.total}")
        elif p.stage == "training" and p.epoch is not None:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
            self.progress.setFormat("Training: epoch %v of at most %m")
            self.curve.add(p.epoch)
            self._say(
                f"Epoch {p.done} of at most {p.total}: validation accuracy "
                f"{p.epoch.val_accuracy * 100:.1f}%"
            )
        elif p.stage == "refitting":
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
            self._say(f"Learning from every image, held-out ones too: epoch {p.done} of {p.total}")

    def _finish(self, outcome: str) -> None:
        self._training = None
        self.cancel_button.setEnabled(False)
        self.choose_button.setEnabled(True)
        self.train_button.setEnabled(self.folder is not None)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if outcome == "done" else 0)
        self.progress.setFormat({"done": "Done", "cancelled": "Cancelled"}.get(outcome, "Failed"))
        self.trainingFinished.emit(outcome)

    def _on_trained(self, request_id: int, taught: Taught) -> None:
        if self._current(request_id):
            self.show_result(taught)

    def show_result(self, taught: Taught) -> None:
        """Show a finished training: accuracy, curve, confusion matrix, mistakes; Use and Save."""
        self.taught = taught
        r = taught.result
        total = sum(r.val_counts)
        right = sum(r.confusion[i][i] for i in range(len(r.class_names)))
        self.accuracy_label.setText(
            f"Validation accuracy: {r.val_accuracy * 100:.1f}% ({right} of {total} held-out images)"
            + "\nWith an unsure threshold, "
            + r.thresholds_text().replace("\n", "; ")
        )
        self.curve.set_best(r.best_epoch)
        self._fill_confusion(r)
        self.wrong_list.clear()
        self.wrong_view.clear()
        for m, image in taught.wrong:
            name = elide_middle(printable(Path(m.path).name), NAME_LIMIT)
            item = QListWidgetItem(QIcon(QPixmap.fromImage(image)), name)
            item.setToolTip(tip(f"{m.true_label}, predicted {m.predicted_label}"))
            self.wrong_list.addItem(item)
        self._show_result_widgets(True)
        skipped = ""
        if r.skipped:
            names = ", ".join(Path(path).name for path, _ in r.skipped[:5])
            more = f" and {len(r.skipped) - 5} more" if len(r.skipped) > 5 else ""
            skipped = f" Left out, could not be read: {names}{more}."
        refit = (
            f", then learned from all {sum(r.train_counts) + total} images for "
            f"{r.refit_epochs} epochs"
            if r.refit_epochs
            else ""
        )
        self._say(
            f"Trained in {r.seconds:.1f} s on {device_words(r.device)}, best epoch "
            f"{r.best_epoch} of {len(r.history)}{refit}. Kept as {Path(taught.path).name} in "
            f"{Path(taught.path).parent}.{skipped}"
        )
        self.use_button.setEnabled(True)
        self.save_button.setEnabled(True)
        self._finish("done")

    def _fill_confusion(self, r: Any) -> None:
        self.confusion_table.set_matrix(r.class_names, r.confusion)

    def confusion(self) -> list[list[int]]:
        """The confusion matrix as shown."""
        return [list(row) for row in self.confusion_table.matrix()]

    def show_wrong(self, row: int) -> None:
        """Show one misclassified held-out image, larger, with what it was taken for."""
        if self.taught is None or not 0 <= row < len(self.taught.wrong):
            return
        m, image = self.taught.wrong[row]
        pixmap = QPixmap.fromImage(image).scaled(
            160, 160, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.wrong_view.setPixmap(pixmap)
        self.wrong_view.setToolTip(
            tip(
                f"{m.path}\nis {m.true_label}, predicted {m.predicted_label} "
                f"({m.probability * 100:.0f}%)"
            )
        )
        self.wrong_caption = f"{Path(m.path).name}: {m.true_label}, predicted {m.predicted_label}"
        self._say(self.wrong_caption)

    def _on_train_failed(self, request_id: int, message: str) -> None:
        if request_id != -1 and not self._current(request_id):
            return
        self._say(message, error=True)
        self._finish("failed")

    def _on_cancelled(self, request_id: int) -> None:
        if not self._current(request_id):
            return
        self._say("Training cancelled.")
        self._finish("cancelled")

    # ---- the result ------------------------------------------------------------------------
    def use_model(self) -> None:
        if self.taught is not None:
            self.useModel.emit(self.taught.path)
            self._say(f"The window now classifies with {Path(self.taught.path).name}.")

    def choose_save(self) -> None:
        if self.taught is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the Taught Model", Path(self.taught.path).name, WEIGHTS_FILTER
        )
        if path:
            self.save_to(path)

    def save_to(self, path: str) -> None:
        """Copy the taught checkpoint to `path` (on the worker); `worker.saved` says when."""
        if self.taught is not None:
            self.copyRequested.emit(self.taught.path, path)

    def _say(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet("color: #c0392b;" if error else "")
        set_text(self.status_label, text, MESSAGE_LIMIT)

    # ---- drops and closing -----------------------------------------------------------------
    def dragEnterEvent(self, event: Any) -> None:
        if _dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: Any) -> None:
        folder = _dropped_folder(event.mimeData())
        if folder is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.set_folder(folder)

    def showEvent(self, event: Any) -> None:
        if not self.thread.isRunning():
            self.thread.start()
        super().showEvent(event)

    def closeEvent(self, event: Any) -> None:
        """Closing cancels a running training (it stops at its next batch) and ends the
        thread; showing the dialog again starts it again."""
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel and end the worker thread; True if it ended in time."""
        self.cancel_training()
        self.thread.quit()
        return self.thread.wait(timeout_ms)


def device_words(device: str) -> str:
    """ "CPU", "GPU 0 (cuda:0)": a device id as the rest of the window writes it."""
    if device == "cpu":
        return "CPU"
    if device.startswith("cuda"):
        return f"GPU {device.partition(':')[2] or '0'} ({device})"
    return device.upper() if device == "mps" else device


def _dropped_folder(mime: Any) -> str | None:
    urls = [u for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
    if len(urls) == 1 and Path(urls[0].toLocalFile()).is_dir():
        return urls[0].toLocalFile()
    return None
