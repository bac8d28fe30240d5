"""The values that cross the engine's boundary: plain, frozen, serialisable, torch-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
            "probability": round(self.probability, 6),
        }


@dataclass(frozen=True)
class ClassificationResult:
    """The outcome for one image: its predictions, or the error that stopped it."""

    path: str
    predictions: tuple[Prediction, ...] = ()
    error: str | None = None
    device: str = ""
    seconds: float = 0.0
    image_size: tuple[int, int] | None = None

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
