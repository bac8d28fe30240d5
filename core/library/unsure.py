""" "Unsure": a top-1 under the confidence threshold the user picked.

The keyword writer and the sorter leave unsure photos alone; the window marks and filters them;
teaching reports, on its held-out images, what a threshold would cost (`coverage_accuracy`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.printable import percent
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
