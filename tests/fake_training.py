"""A `TrainingResult` made up for tests of what shows it (no training: any number of classes)."""

from __future__ import annotations

import torch

from core.teach.taught_model import EpochStats, Misclassified, TrainingOptions, TrainingResult


def fake_result(
    names: list[str],
    skipped: tuple[tuple[str, str], ...] = (),
    state_dict: dict[str, torch.Tensor] | None = None,
) -> TrainingResult:
    n = len(names)
    confusion = tuple(
        tuple(2 if i == j else int(j == (i + 1) % n) for j in range(n)) for i in range(n)
    )
    return TrainingResult(
        class_names=tuple(names),
        history=(EpochStats(1, 1.0, 0.5, 1.0, 0.6),),
        best_epoch=1,
        val_accuracy=2 / 3,
        per_class_accuracy=tuple(2 / 3 for _ in names),
        confusion=confusion,
        misclassified=(Misclassified(f"/data/{names[0]}/1.jpg", names[0], names[1 % n], 0.7),),
        skipped=skipped,
        train_counts=tuple(8 for _ in names),
        val_counts=tuple(3 for _ in names),
        backbone="test",
        device="cpu",
        seconds_loading=0.1,
        seconds_features=0.1,
        seconds_training=0.1,
        options=TrainingOptions(),
        state_dict=state_dict or {"fc.weight": torch.zeros(n, 4)},
    )
