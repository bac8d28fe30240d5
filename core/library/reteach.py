"""Teach from corrections: the existing teaching (`core.teach.training.train`) run on the
corrected photos plus the taught model's own examples, starting from the model in use.

The report is honest about the change: the held-out accuracy of the new model, and that of
the model before it on the very same held-out images (by class name).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.library.corrections import teaching_folder


@dataclass(frozen=True)
class Retaught:
    result: Any  # core.teach.taught_model.TrainingResult
    path: str  # the checkpoint saved
    counts: dict[str, int]  # images per class taught from
    accuracy_before: float | None  # the previous model on the same held-out images
    accuracy_after: float

    def describe(self) -> str:
        images = sum(self.counts.values())
        before = (
            f"{self.accuracy_before:.0%} before, "
            if self.accuracy_before is not None
            else "no comparable model before, "
        )
        return (
            f"Taught {len(self.counts)} classes from {images} images; held-out accuracy "
            f"{before}{self.accuracy_after:.0%} after"
        )


def examples_of(checkpoint: str | os.PathLike[str] | None) -> str | None:
    """The folder a taught checkpoint was trained from, when it says so and it is there."""
    if checkpoint is None:
        return None
    import torch

    try:
        raw = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not ours, or not a zip checkpoint: no examples to add
        return None
    folder = raw.get("meta", {}).get("data_folder") if isinstance(raw, dict) else None
    return folder if isinstance(folder, str) and folder and Path(folder).is_dir() else None


def teach_from_corrections(
    corrections: Iterable[tuple[Path, str]],
    backbone: str | None,
    out: str | os.PathLike[str],
    *,
    options: Any = None,
    progress: Any = None,
    cancel: Any = None,
) -> Retaught:
    """Retrain on `corrections` (photo, class) and `backbone`'s examples; save to `out`.

    Raises `TrainingDataError` (fewer than two classes, or a class of one photo),
    `ModelLoadError`, `CheckpointSaveError` or `Cancelled`, as teaching does.
    """
    from core.teach.training import TrainingOptions, save_checkpoint, train

    examples = examples_of(backbone)
    with tempfile.TemporaryDirectory(prefix="resnet-corrections-") as tmp:
        counts = teaching_folder(corrections, examples, tmp)
        result = train(tmp, options or TrainingOptions(), backbone=backbone, progress=progress,
                       cancel=cancel)  # fmt: skip
        originals = [str(Path(p).resolve()) for p in result.held_out_paths]
        truths = [Path(p).parent.name for p in result.held_out_paths]
        before = _accuracy_of(backbone, originals, truths, result.class_names)
    import dataclasses

    result = dataclasses.replace(result, data_folder=examples or "")
    path = save_checkpoint(result, out)
    return Retaught(result, str(path), counts, before, result.val_accuracy)


def _accuracy_of(
    checkpoint: str | None, photos: list[str], truths: list[str], classes: tuple[str, ...]
) -> float | None:
    """How often `checkpoint`'s top-1 is the true class on `photos`; None when it knows none
    of the classes (nothing to compare)."""
    if checkpoint is None or not photos:
        return None
    from core.engine import Classifier
    from core.model import load_checkpoint

    model = load_checkpoint(checkpoint)
    if not set(model.labels) & set(classes):
        return None
    classifier = Classifier(model, "cpu")
    right = sum(
        1
        for result, truth in zip(classifier.classify_many(photos, top_k=1), truths, strict=True)
        if result.ok and result.top is not None and result.top.label == truth
    )
    return right / len(photos)
