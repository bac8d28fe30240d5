"""What a decoder hands the engine: prepared batches, the same whichever decoder made them.

A decoder (`core.decode.decoder.Decoder`: `PillowDecoder`, `GpuJpegDecoder`) turns image
sources into `PreparedBatch`es in order; the engine runs the network on each and builds the results. Neither decoder runs the
network, and the engine never decodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class Prepared:
    """One image decoded and preprocessed by Pillow (`tensor`), or why it could not be (`error`)."""

    path: str
    tensor: torch.Tensor | None
    error: str | None
    seconds: float


@dataclass
class PreparedBatch:
    """Images decoded together, in order: `tensor` holds one row per entry whose `row` is set;
    an entry without a row failed, and `errors` says why."""

    names: list[str]
    rows: list[int | None]
    errors: list[str | None]
    seconds: list[float]
    tensor: torch.Tensor | None
    ready: torch.cuda.Event | None = None  # recorded on the stream that made `tensor`
    gpu_decoded: int = 0  # rows nvJPEG decoded (the rest came from Pillow)

    @classmethod
    def of(
        cls, prepared: Sequence[Prepared], stack: Callable[[list[torch.Tensor]], torch.Tensor]
    ) -> PreparedBatch:
        """A batch of Pillow's results, the good ones stacked by `stack`."""
        good = [p.tensor for p in prepared if p.tensor is not None]
        rows: list[int | None] = []
        for p in prepared:
            rows.append(None if p.tensor is None else len(rows) - rows.count(None))
        return cls(
            names=[p.path for p in prepared],
            rows=rows,
            errors=[p.error for p in prepared],
            seconds=[p.seconds for p in prepared],
            tensor=stack(good) if good else None,
        )

    def input(self, device: torch.device) -> torch.Tensor | None:
        """The batch's tensor, safe to use on `device`'s current stream (None: nothing decoded)."""
        if self.tensor is None:
            return None
        if self.ready is not None:
            stream = torch.cuda.current_stream(device)
            stream.wait_event(self.ready)
            self.tensor.record_stream(stream)
        return self.tensor
