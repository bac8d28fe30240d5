"""What the Teach dialog is working on, without any widget: the folder and its classes, the
training that runs (by request id), its progress and curve, the result, the status line, the
name the model will be kept under, and what the buttons may do.

The model talks to the worker through request signals tagged with ids, and takes the worker's
answers in its `on_*` slots; an answer to a request that is no longer current is dropped here.
The dialog shows what the model's signals carry and hands the user's intents back; it never
checks a request id itself. Only QtCore is imported, so the model is made and tested without a
display (tests/gui/test_teach_model.py), as `gui/session.py` is for the window.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from gui import teach_naming
from gui.teach_messages import TrainRequest

if TYPE_CHECKING:
    from core import EpochStats, Misclassified, Progress, TrainingResult
    from gui.teach_messages import Scan, Taught

OUTCOMES = {"done": "Done", "cancelled": "Cancelled", "failed": "Failed"}  # progress bar text


@dataclasses.dataclass(frozen=True)
class FolderLine:
    """The line above the classes: the folder's name and what is known of it ("3 classes, 18
    images"); with no name, why the folder cannot be used."""

    name: str
    text: str


@dataclasses.dataclass(frozen=True)
class ProgressState:
    """The progress bar: 0 to `maximum` (0: busy, no end known), and its text, where Qt
    puts the value for %v and the maximum for %m."""

    maximum: int = 1
    value: int = 0
    text: str = ""


@dataclasses.dataclass(frozen=True)
class Status:
    """The line under the form: what happens or happened, and whether it is an error."""

    text: str = ""
    error: bool = False


@dataclasses.dataclass(frozen=True)
class Actions:
    """What the buttons may do now."""

    choose_folder: bool = True
    train: bool = False
    cancel: bool = False
    use: bool = False
    save: bool = False


class TeachModel(QObject):
    """The folder, its classes, the training and its result; only current answers get through."""

    # Requests for the worker (queued: it lives on its own thread).
    scanRequested = Signal(int, str)  # request id, folder
    trainRequested = Signal(object)  # TrainRequest
    copyRequested = Signal(str, str)  # the taught checkpoint, where to copy it

    # What changed.
    folderChanged = Signal(object)  # FolderLine
    classesChanged = Signal(object)  # Scan, or None: the folder has no classes to list
    scanAnswered = Signal()  # the folder's answer is all told: classes, name, buttons
    nameChanged = Signal(str)  # the name suggested for the model, after its classes
    backboneChanged = Signal(str)  # the checkpoint training starts from; "": ImageNet
    runningChanged = Signal(bool)  # a training runs (its curve is drawn as it goes)
    curveCleared = Signal(int)  # the curve starts again, for this many epochs at most
    epochAdded = Signal(object)  # EpochStats
    resultChanged = Signal(object)  # Taught, or None: no result to show
    progressChanged = Signal(object)  # ProgressState
    statusChanged = Signal(object)  # Status
    actionsChanged = Signal(object)  # Actions
    trainingFinished = Signal(str)  # "done", "cancelled" or "failed"
    useModel = Signal(str)  # the taught checkpoint: the window loads it

    def __init__(
        self, models_dir: str, backbone: str | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.models_dir = models_dir  # where taught models are kept
        self.backbone = backbone or ""
        self.backbone_chosen = False  # follows the window's model until the user chooses one
        self.epochs, self.fine_tune, self.augment = 30, False, False  # the form's options
        self.name = ""
        self.named_by_user = False  # the name keeps what the user typed
        self.folder: str | None = None
        self.scan: Scan | None = None  # the current folder's classes, once listed
        self.request_id = 0  # the latest request; answers to older ones are dropped
        self.training: TrainRequest | None = None
        self.history: list[EpochStats] = []  # the curve: one entry per epoch trained
        self.taught: Taught | None = None
        self.wrong_caption = ""
        self.progress = ProgressState()
        self.status = Status()
        self.actions = Actions()

    # ---- the folder and the options ----------------------------------------------------------
    def set_folder(self, folder: str) -> None:
        """List the classes of `folder` (on the worker); nothing of the previous one stays."""
        self.folder = folder
        self.scan = None
        self.request_id += 1
        self._clear_result()
        self.folderChanged.emit(FolderLine(Path(folder).name or folder, "looking for classes…"))
        self.scanRequested.emit(self.request_id, folder)

    def on_scanned(self, request_id: int, scan: Scan) -> None:
        if request_id != self.request_id:
            return
        self.scan = scan
        total = sum(c.count for c in scan.classes)
        name = Path(scan.folder).name or scan.folder
        self.folderChanged.emit(FolderLine(name, f"{len(scan.classes)} classes, {total} images"))
        self.classesChanged.emit(scan)
        if not self.named_by_user:
            self.name = teach_naming.model_name([c.name for c in scan.classes])
            self.nameChanged.emit(self.name)
        self._update_actions()
        self.scanAnswered.emit()

    def on_scan_failed(self, request_id: int, message: str) -> None:
        if request_id != self.request_id:
            return
        self.folderChanged.emit(FolderLine("", message))
        self.classesChanged.emit(None)
        self.scanAnswered.emit()

    def set_epochs(self, epochs: int) -> None:
        """Train for at most this many epochs (early stopping may end it sooner)."""
        self.epochs = epochs

    def set_fine_tune(self, on: bool) -> None:
        """Train the last block too, not only the new classes' layer."""
        self.fine_tune = on

    def set_augment(self, on: bool) -> None:
        """Also learn from a randomly cropped, flipped copy of each image."""
        self.augment = on

    def edit_name(self, name: str) -> None:
        """The user typed a name: it is kept, whatever folder comes next."""
        self.name = name
        self.named_by_user = True

    def choose_backbone(self, path: str) -> None:
        """Start from this checkpoint ("": ImageNet), whatever model the window uses."""
        self.backbone_chosen = True
        self._set_backbone(path)
        self._say("")  # whatever failed with the previous backbone is no longer so

    def follow_model(self, weights: str | None) -> None:
        """Start from the model the window uses (None: ImageNet), unless the user chose one."""
        if not self.backbone_chosen and self.training is None:
            self._set_backbone(weights or "")

    def _set_backbone(self, path: str) -> None:
        self.backbone = path
        self.backboneChanged.emit(path)

    # ---- training ----------------------------------------------------------------------------
    def start_training(self) -> TrainRequest | None:
        """Ask the worker to train on the folder with the options; None if it cannot start."""
        if self.scan is None or self.training is not None:
            return None
        self.request_id += 1
        self.training = TrainRequest(
            request_id=self.request_id,
            folder=self.folder,
            backbone=self.backbone or None,
            epochs=self.epochs,
            fine_tune=self.fine_tune,
            augment=self.augment,
            out_dir=self.models_dir,
            name=self.name.strip(),
        )
        self._set_taught(None)
        self._clear_curve()
        self.runningChanged.emit(True)
        self._update_actions()
        self._set_progress(ProgressState(0, 0, "Loading the backbone…"))
        self._say("Loading the backbone…")
        self.trainRequested.emit(self.training)
        return self.training

    def cancel_training(self) -> None:
        """Stop the training at its next batch; `trainingFinished` says when it has."""
        if self.training is not None:
            self.training.cancel.set()
            self._update_actions()
            self._say("Cancelling…")

    def _current(self, request_id: int) -> bool:
        return self.training is not None and request_id == self.training.request_id

    def on_progress(self, request_id: int, p: Progress) -> None:
        if not self._current(request_id):
            return
        if p.stage == "features":
            self._set_progress(ProgressState(max(p.total, 1), p.done, "Reading images: %v of %m"))
            self._say(f"Reading images: {p.done} of {p.total}")
        elif p.stage == "training" and p.epoch is not None:
            text = "Training: epoch %v of at most %m"
            self._set_progress(ProgressState(p.total, p.done, text))
            self.history.append(p.epoch)
            self.epochAdded.emit(p.epoch)
            self._say(
                f"Epoch {p.done} of at most {p.total}: validation accuracy "
                f"{p.epoch.val_accuracy * 100:.1f}%"
            )
        elif p.stage == "refitting":
            self._set_progress(dataclasses.replace(self.progress, maximum=p.total, value=p.done))
            self._say(f"Learning from every image, held-out ones too: epoch {p.done} of {p.total}")

    def on_trained(self, request_id: int, taught: Taught) -> None:
        if self._current(request_id):
            self.show_result(taught)

    def show_result(self, taught: Taught) -> None:
        """A finished training: its result is shown, and can be used or saved."""
        self._set_taught(taught)
        self._say(trained_text(taught))
        self._finish("done")

    def on_train_failed(self, request_id: int, message: str) -> None:
        if self._current(request_id):
            self._say(message, error=True)
            self._finish("failed")

    def on_cancelled(self, request_id: int) -> None:
        if self._current(request_id):
            self._say("Training cancelled.")
            self._finish("cancelled")

    def on_crashed(self, summary: str, _details: str = "") -> None:
        """The worker raised where it should not have: whatever ran has failed."""
        self._say(summary, error=True)
        self._finish("failed")

    def _finish(self, outcome: str) -> None:
        self.training = None
        self.runningChanged.emit(False)
        self._update_actions()
        self._set_progress(ProgressState(1, int(outcome == "done"), OUTCOMES[outcome]))
        self.trainingFinished.emit(outcome)

    # ---- the result --------------------------------------------------------------------------
    def choose_wrong(self, row: int) -> Misclassified | None:
        """One of the held-out images it got wrong, looked at: the status line says what."""
        if self.taught is None or not 0 <= row < len(self.taught.wrong):
            return None
        m = self.taught.wrong[row][0]
        self.wrong_caption = f"{Path(m.path).name}: {m.true_label}, predicted {m.predicted_label}"
        self._say(self.wrong_caption)
        return m

    def use_model(self) -> None:
        if self.taught is not None:
            self.useModel.emit(self.taught.path)
            self._say(f"The window now classifies with {Path(self.taught.path).name}.")

    def save_to(self, path: str) -> None:
        """Copy the taught checkpoint to `path` (on the worker); `on_saved` says when."""
        if self.taught is not None:
            self.copyRequested.emit(self.taught.path, path)

    def on_saved(self, path: str) -> None:
        self._say(f"Saved {path}.")

    def on_save_failed(self, message: str) -> None:
        self._say(message, error=True)

    # ---- state that several steps change -----------------------------------------------------
    def _clear_result(self) -> None:
        self._set_taught(None)
        self._clear_curve()
        self._update_actions()
        self._set_progress(ProgressState())
        self._say("")

    def _clear_curve(self) -> None:
        self.history = []
        self.curveCleared.emit(self.epochs)

    def _set_taught(self, taught: Taught | None) -> None:
        self.taught = taught
        self.wrong_caption = ""
        self.resultChanged.emit(taught)

    def _update_actions(self) -> None:
        running = self.training
        idle = running is None
        done = self.taught is not None
        self.actions = Actions(
            choose_folder=idle,
            train=idle and self.scan is not None,
            cancel=running is not None and not running.cancel.is_set(),
            use=done,
            save=done,
        )
        self.actionsChanged.emit(self.actions)

    def _set_progress(self, progress: ProgressState) -> None:
        self.progress = progress
        self.progressChanged.emit(progress)

    def _say(self, text: str, error: bool = False) -> None:
        self.status = Status(text, error)
        self.statusChanged.emit(self.status)


# ---- sentences -------------------------------------------------------------------------------
def trained_text(taught: Taught) -> str:
    """How the training went and where the model is kept, for the status line."""
    r = taught.result
    held_out = sum(r.val_counts)
    skipped = ""
    if r.skipped:
        names = ", ".join(Path(path).name for path, _ in r.skipped[:5])
        more = f" and {len(r.skipped) - 5} more" if len(r.skipped) > 5 else ""
        skipped = f" Left out, could not be read: {names}{more}."
    refit = (
        f", then learned from all {sum(r.train_counts) + held_out} images for "
        f"{r.refit_epochs} epochs"
        if r.refit_epochs
        else ""
    )
    path = Path(taught.path)
    return (
        f"Trained in {r.seconds:.1f} s on {device_words(r.device)}, best epoch "
        f"{r.best_epoch} of {len(r.history)}{refit}. Kept as {path.name} in "
        f"{path.parent}.{skipped}"
    )


def accuracy_text(r: TrainingResult) -> str:
    """The held-out accuracy, and what an unsure threshold would make of it."""
    total = sum(r.val_counts)
    right = sum(r.confusion[i][i] for i in range(len(r.class_names)))
    return (
        f"Validation accuracy: {r.val_accuracy * 100:.1f}% ({right} of {total} held-out images)"
        + "\nWith an unsure threshold, "
        + r.thresholds_text().replace("\n", "; ")
    )


def device_words(device: str) -> str:
    """ "CPU", "GPU 0 (cuda:0)": a device id as the rest of the window writes it."""
    if device == "cpu":
        return "CPU"
    if device.startswith("cuda"):
        return f"GPU {device.partition(':')[2] or '0'} ({device})"
    return device.upper() if device == "mps" else device
