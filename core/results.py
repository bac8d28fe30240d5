"""The values that cross the engine's boundary: plain, frozen, serialisable, torch-free."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass(frozen=True)
class Prediction:
    """One guess: its rank (1 = best), ImageNet or checkpoint class index, label, probability."""

    rank: int
    index: int
    label: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "index": self.index,
            "label": self.label,
            # strict JSON has no NaN: a damaged model's non-finite output becomes null
            "probability": round(self.probability, 6) if math.isfinite(self.probability) else None,
        }


@dataclass(frozen=True)
class ClassificationResult:
    """The outcome for one image: its predictions, or the error that stopped it."""

    path: str
    predictions: tuple[Prediction, ...] = ()
    error: str | None = None
    device: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def top(self) -> Prediction | None:
        return self.predictions[0] if self.predictions else None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON record; the window exports the same."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "predictions": [p.to_dict() for p in self.predictions]}


@dataclass(frozen=True)
class DeviceInfo:
    """A device a user can pick: `id` goes to the engine, `name` is shown."""

    id: str
    name: str


@dataclass(frozen=True)
class ModelInfo:
    """What is loaded, for a status line: where the weights came from and on which device."""

    source: str
    num_classes: int
    device: str
    device_name: str
    labels: tuple[str, ...] = field(default=(), repr=False)


# ---- the CLI's record formats, shared with the window's export ---------------------------------
CSV_HEADER = ("path", "rank", "index", "label", "probability", "error")


def csv_rows(result: ClassificationResult) -> list[list[Any]]:
    """One CSV row per prediction, or a single row carrying the error."""
    if result.error is not None:
        return [[result.path, "", "", "", "", result.error]]
    return [
        [result.path, p.rank, p.index, p.label, f"{p.probability:.6f}", ""]
        for p in result.predictions
    ]


def csv_writer(out: TextIO) -> Callable[[ClassificationResult], None]:
    """Write the header to `out`; return a function that writes one result's rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    return lambda result: writer.writerows(csv_rows(result))


def json_line(result: ClassificationResult) -> str:
    """The result as one line of `resnet-classify --format json`, newline included."""
    return json.dumps(result.to_dict(), ensure_ascii=False, allow_nan=False) + "\n"
