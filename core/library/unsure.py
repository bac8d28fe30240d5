""" "Unsure": a top-1 under the confidence threshold the user picked.

The keyword writer and the sorter leave unsure photos alone; the window marks and filters them;
teaching reports, on its held-out images, what a threshold would cost (`coverage_accuracy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.results import ClassificationResult

DEFAULT_THRESHOLD = 0.5


def is_unsure(result: ClassificationResult, threshold: float) -> bool:
    """Classified, but its top-1 is under `threshold` (a failed photo is not "unsure")."""
    return result.ok and (result.top is None or result.top.probability < threshold)


@dataclass(frozen=True)
class UnsureShare:
    unsure: int
    classified: int
    threshold: float

    @property
    def fraction(self) -> float:
        return self.unsure / self.classified if self.classified else 0.0

    def describe(self) -> str:
        """ "12 of 40 photos unsure (30%, top-1 under 60%)"."""
        return (
            f"{self.unsure} of {self.classified} photos unsure "
            f"({self.fraction:.0%}, top-1 under {percent(self.threshold)})"
        )


def unsure_share(results: Iterable[ClassificationResult], threshold: float) -> UnsureShare:
    ok = [r for r in results if r.ok]
    return UnsureShare(sum(is_unsure(r, threshold) for r in ok), len(ok), threshold)


def percent(value: float) -> str:
    """0.6 as "60%", 0.125 as "12.5%"."""
    return f"{value * 100:.4g}%"


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
