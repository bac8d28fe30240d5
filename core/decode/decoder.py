"""What the engine holds to turn sources into network input: a `Decoder`.

`PillowDecoder` (`core.decode.pillow`) and `GpuJpegDecoder` (`core.decode.gpu`) are the two;
both yield the same `PreparedBatch`es, and only the engine runs the network on them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import torch
from PIL import Image

from core.decode.batch import PreparedBatch, StopCheck
from core.decode.files import ImageSource
from core.decode.pillow import PillowDecoder
from core.decode.preprocess import Preprocess


class Decoder(Protocol):
    """What the engine holds to turn sources into network input (`core.engine.Classifier`)."""

    @property
    def pillow(self) -> PillowDecoder:
        """The Pillow decoder (itself, or the one a GPU decoder falls back to): for a decoded
        picture itself (the explainer) and for teaching."""
        ...

    def one(
        self, source: ImageSource | Image.Image, pre: Preprocess, device: torch.device
    ) -> torch.Tensor:
        """One image as a 1x3xHxW input for `device` (raises `ImageReadError`)."""
        ...

    def batches(
        self,
        sources: Sequence[ImageSource],
        pre: Preprocess,
        device: torch.device,
        batch_size: int,
        stop: StopCheck,
        workers: int | None = None,
    ) -> Iterator[PreparedBatch]:
        """`sources` as batches in order; a bad image is an entry with an error. Stops between
        batches once `stop()` is true."""
        ...
