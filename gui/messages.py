"""What the window and its background threads send each other: plain, frozen data.

Every request carries an id and, where it can run long, a `threading.Event` the window sets to
cancel it; answers carry the id back, so the window can drop those no longer current.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from PySide6.QtGui import QImage

Source = str | bytes
"""A local image path or encoded image bytes."""


@dataclass(frozen=True)
class LoadRequest:
    """Load a model: the user's checkpoint (and labels) or, with no weights, ImageNet's."""

    request_id: int
    weights: str | None = None
    labels: str | None = None
    device: str = "auto"
    variant: str = "IMAGENET1K_V2"
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


@dataclass(frozen=True)
class ClassifyRequest:
    """Classify several images one after another, streaming a result for each."""

    request_id: int
    sources: tuple[Source, ...]
    top_k: int = 5
    batch_size: int = 1
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


@dataclass(frozen=True)
class ExplainRequest:
    """A Grad-CAM heat map of `class_index` for one image, drawn over it at most `max_side` px."""

    request_id: int
    source: Source
    class_index: int
    max_side: int


@dataclass(frozen=True)
class HeatMap:
    """The answer to an `ExplainRequest`: the image with the heat map blended over it."""

    image: QImage
    class_index: int
    label: str
    probability: float


@dataclass(frozen=True)
class ModelFailure:
    """Why a model could not be loaded; `offline` means the ImageNet weights could not be had,
    `file_name` and `folder` which weights file is missing and where the app looks for it."""

    message: str
    offline: bool = False
    cancelled: bool = False
    file_name: str | None = None
    folder: str | None = None


@dataclass(frozen=True)
class ImageJob:
    """Decode one image for display (`kind="view"`) or as a thumbnail (`kind="thumb"`)."""

    request_id: int
    index: int
    source: Source
    max_side: int
    kind: str = "view"
