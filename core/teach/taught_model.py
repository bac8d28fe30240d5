"""What teaching takes and gives: its options, its progress reports, and its result, which
carries an honest account of the model (accuracy on held-out images only) and is saved as a
plain `resnet50(num_classes=N)` checkpoint with its class names.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.decode.preprocess import Preprocess
from core.errors import ClassifierError
from core.printable import printable
from core.teach.coverage import CoverageAccuracy, coverage_accuracy
from core.version import version

CHECKPOINT_FORMAT = "resnet-classifier/taught-1"


class CheckpointSaveError(ClassifierError):
    """The trained model could not be written (no space, no permission...)."""

    exit_code = 1


@dataclass(frozen=True)
class TrainingOptions:
    """How to teach. The defaults suit a few dozen to a few thousand images per class."""

    epochs: int = 30
    val_split: float = 0.2
    fine_tune: bool = False
    augment_passes: int = 0  # each costs one more network pass per image (benchmarks/training.py)
    seed: int = 0
    device: str = "auto"
    batch_size: int = 32  # training steps; feature extraction batches as the engine does
    # the head's: 1e-2 stopped early on the held-out loss after an epoch or two, 14 points
    # below a logistic regression on the same features (benchmarks/teaching_accuracy.py)
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-5
    weight_decay: float = 1e-4
    patience: int = 6
    # after the held-out images chose the epoch, learn again from every image for that many
    # epochs (the reported accuracy stays the held-out one): benchmarks/teaching_accuracy.py
    refit_on_all: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1")
        if not 0.0 < self.val_split < 1.0:
            raise ValueError("val_split must be between 0 and 1 (for example 0.2)")
        if self.augment_passes < 0:
            raise ValueError("augment_passes must be 0 or more")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")


@dataclass(frozen=True)
class EpochStats:
    """One epoch: training loss and accuracy, and the same on the held-out images."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass(frozen=True)
class Progress:
    """Where training is: `stage` is "loading", "features" or "training"; `epoch` is set after
    each epoch."""

    stage: str
    done: int
    total: int
    epoch: EpochStats | None = None


@dataclass(frozen=True)
class Misclassified:
    """A held-out image the final model got wrong."""

    path: str
    true_label: str
    predicted_label: str
    probability: float


THRESHOLDS = (0.5, 0.7, 0.9)  # the unsure thresholds a teaching run reports on


@dataclass(frozen=True)
class TrainingResult:
    """A trained model and an honest account of it: accuracy measured on held-out images only."""

    class_names: tuple[str, ...]
    history: tuple[EpochStats, ...]
    best_epoch: int
    val_accuracy: float
    per_class_accuracy: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]
    """confusion[true][predicted], counted on the validation images."""
    misclassified: tuple[Misclassified, ...]
    skipped: tuple[tuple[str, str], ...]
    """(path, reason) of each image that could not be read."""
    train_counts: tuple[int, ...]
    val_counts: tuple[int, ...]
    backbone: str
    device: str
    seconds_loading: float
    seconds_features: float
    seconds_training: float
    options: TrainingOptions
    state_dict: dict[str, torch.Tensor] = field(repr=False, compare=False)
    refit_epochs: int = 0
    """Epochs the saved model learned from every image, held-out ones included (0: it learned
    from the training images only, and is the model the held-out accuracy was measured on)."""
    held_out: tuple[tuple[float, bool], ...] = field(default=(), repr=False)
    """(top-1 probability, whether the top-1 was right) of each validation image."""
    held_out_paths: tuple[str, ...] = field(default=(), repr=False)
    data_folder: str = ""
    """The folder of class folders taught from (saved in the checkpoint: teaching from
    corrections adds its examples)."""

    def at_threshold(self, threshold: float) -> CoverageAccuracy:
        """What an unsure threshold does on the held-out images: the share kept, their
        accuracy, and the share that falls under it."""
        return coverage_accuracy(
            [p for p, _ in self.held_out], [ok for _, ok in self.held_out], threshold
        )

    def thresholds_text(self, thresholds: tuple[float, ...] = THRESHOLDS) -> str:
        """One line per threshold: "at 70%: 96.0% right on the 81% kept, 19% unsure"."""
        return "\n".join(self.at_threshold(t).describe() for t in thresholds)

    @property
    def seconds(self) -> float:
        return self.seconds_loading + self.seconds_features + self.seconds_training

    def checkpoint(self) -> dict[str, Any]:
        """What `save_checkpoint` writes: the state dict, class names and metadata (data only)."""
        pre = Preprocess.classic()
        return {
            "state_dict": self.state_dict,
            "class_names": list(self.class_names),
            "meta": {
                "format": CHECKPOINT_FORMAT,
                "architecture": "resnet50",
                "num_classes": len(self.class_names),
                "backbone": self.backbone,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "trained_with": f"resnet-train {version()}",
                "fine_tuned_layer4": self.options.fine_tune,
                "epochs_run": len(self.history),
                "best_epoch": self.best_epoch,
                "seed": self.options.seed,
                "val_accuracy": self.val_accuracy,
                "data_folder": self.data_folder,
                "per_class_val_accuracy": list(self.per_class_accuracy),
                "train_images": list(self.train_counts),
                "refit_on_all_images_epochs": self.refit_epochs,
                "val_images": list(self.val_counts),
                "preprocess": {
                    "resize_size": pre.resize_size,
                    "crop_size": pre.crop_size,
                    "mean": list(pre.mean),
                    "std": list(pre.std),
                },
            },
        }


ProgressCallback = Callable[[Progress], None]


def save_checkpoint(result: TrainingResult, path: str | os.PathLike[str]) -> Path:
    """Write the checkpoint atomically (a partial file never takes the name); clear errors for
    a full disk or a folder that cannot be written. It gets the permissions the umask gives
    (or those of the file it replaces), so a model saved in a shared folder can be shared."""
    from core.export import mode_for

    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as f:
            torch.save(result.checkpoint(), f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode_for(path))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _no_space(path) from None
        raise CheckpointSaveError(
            f"Cannot save {printable(path.name)} in {printable(str(path.parent))}: "
            f"{exc.strerror or exc}."
        ) from None
    except RuntimeError as exc:  # torch's writer: "... unexpected pos ..." when the disk fills
        if _disk_full(path.parent):
            raise _no_space(path) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointSaveError(f"Cannot save {printable(path.name)}: {first}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def _no_space(path: Path) -> CheckpointSaveError:
    return CheckpointSaveError(
        f"No space left to save {printable(path.name)} in {printable(str(path.parent))} "
        "(it needs about 100 MB)."
    )


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 200 << 20
    except OSError:
        return False
