"""What a confidence threshold does to a taught model's held-out images: how many it keeps and
how often those are right (the Teach dialog's "unsure" line, `core.teach.taught_model`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.printable import percent


@dataclass(frozen=True)
class CoverageAccuracy:
    """At a threshold: the share of held-out images kept (at or above it), their accuracy, and
    the share that falls under it (unsure)."""

    threshold: float
    coverage: float
    accuracy: float  # of the kept images; 0 when none is kept

    @property
    def unsure(self) -> float:
        return 1.0 - self.coverage

    def describe(self) -> str:
        return (
            f"at {percent(self.threshold)}: {self.accuracy:.1%} right on the "
            f"{self.coverage:.0%} kept, {self.unsure:.0%} unsure"
        )


def coverage_accuracy(
    confidences: Sequence[float], correct: Sequence[bool], threshold: float
) -> CoverageAccuracy:
    """What `threshold` does on held-out images: each one's top-1 probability and whether the
    top-1 was right."""
    kept = [ok for p, ok in zip(confidences, correct, strict=True) if p >= threshold]
    coverage = len(kept) / len(confidences) if confidences else 0.0
    accuracy = sum(kept) / len(kept) if kept else 0.0
    return CoverageAccuracy(threshold, coverage, accuracy)
