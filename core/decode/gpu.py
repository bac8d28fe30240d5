"""The GPU decoder: JPEGs decoded by nvJPEG and Pillow at once on a CUDA device, everything
else (and every device without nvJPEG) by the Pillow decoder it holds.

Whether a device takes the GPU path is decided here alone (`GpuJpegDecoder.uses_gpu`); the
results and errors are the Pillow path's, within float noise (`benchmarks/results/gpu_decode.md`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from PIL import Image

from core.decode.batch import PreparedBatch, StopCheck
from core.decode.decoder import Decoder
from core.decode.files import ImageSource
from core.decode.gpu_decode import normalise_into, resize_crop_into
from core.decode.gpu_pipeline import GPU_MIN_BATCH, GpuJpegPipeline
from core.decode.gpu_run import PipelineRun
from core.decode.nvjpeg import gpu_decode_unavailable, installed_backend
from core.decode.pillow import PillowDecoder
from core.decode.preprocess import Preprocess

log = logging.getLogger(__name__)

# `--decode`: where JPEGs are decoded on a CUDA device ("auto" is the GPU, measured the faster
# with the same top-1: README "GPU decoding").
DECODE_CHOICES = ("auto", "gpu", "cpu")


def decoder_for(choice: str = "auto", fallback: PillowDecoder | None = None) -> Decoder:
    """The decoder a `--decode` choice names: "cpu" the Pillow decoder, else the GPU one."""
    if choice not in DECODE_CHOICES:
        raise ValueError(f"decode must be one of {', '.join(DECODE_CHOICES)}, not {choice!r}")
    pillow = fallback or PillowDecoder()
    return pillow if choice == "cpu" else GpuJpegDecoder(pillow)


class GpuJpegDecoder:
    """nvJPEG on CUDA devices, `fallback` (Pillow) for the rest.

    `readers` threads read and route files (default: fitted to the machine), folder batches are
    at least `min_batch` images, and nvJPEG takes at most `chunk` files a call. nvJPEG is called
    through `backend` (default: TorchCodec where installed, else torchvision).
    """

    def __init__(
        self,
        fallback: PillowDecoder | None = None,
        *,
        readers: int | None = None,
        min_batch: int = GPU_MIN_BATCH,
        chunk: int | None = None,
        backend: str | None = None,
    ) -> None:
        self.fallback = fallback or PillowDecoder()
        self._backend = backend
        self.readers = readers
        self.min_batch = min_batch
        self.chunk = chunk
        self._single: GpuJpegPipeline | None = None
        self._warned: set[str] = set()

    @property
    def pillow(self) -> PillowDecoder:
        return self.fallback

    @property
    def backend(self) -> str:
        """The nvJPEG caller, found on first use on a GPU: TorchCodec's import (30 ms) stays
        out of every start on a CPU."""
        if self._backend is None:
            self._backend = installed_backend()
        return self._backend

    def uses_gpu(self, device: torch.device) -> bool:
        """Whether JPEGs are decoded on `device`: a CUDA device where nvJPEG works."""
        if device.type != "cuda":
            return False
        reason = gpu_decode_unavailable(device, self.backend)
        if reason is not None:
            if str(device) not in self._warned:
                self._warned.add(str(device))
                log.warning(
                    "JPEGs are decoded by Pillow: the GPU cannot decode them here (%s)", reason
                )
            return False
        return True

    def pipeline(
        self, pre: Preprocess, device: torch.device, batch_size: int, readers: int | None = None
    ) -> GpuJpegPipeline:
        """A pipeline for one folder on `device` (on a CPU device it runs too: the tests)."""
        return GpuJpegPipeline(
            self.fallback,
            pre,
            device,
            max(batch_size, self.min_batch),
            readers or self.readers,
            chunk=self.chunk,
            backend=self.backend,
        )

    def batches(
        self,
        sources: Sequence[ImageSource],
        pre: Preprocess,
        device: torch.device,
        batch_size: int,
        stop: StopCheck,
        workers: int | None = None,
    ) -> Iterator[PreparedBatch]:
        if not self.uses_gpu(device):
            yield from self.fallback.batches(sources, pre, device, batch_size, stop, workers)
            return
        yield from self.run(self.pipeline(pre, device, batch_size, workers), sources, stop)

    @staticmethod
    def run(
        pipe: GpuJpegPipeline, sources: Sequence[ImageSource], stop: StopCheck
    ) -> Iterator[PreparedBatch]:
        """`pipe`'s batches of `sources` in order, until `stop()` is true."""
        for batch in PipelineRun(pipe, list(sources)).batches():
            if stop():
                return
            yield batch

    def one(
        self, source: ImageSource | Image.Image, pre: Preprocess, device: torch.device
    ) -> torch.Tensor:
        x = None
        if not isinstance(source, Image.Image) and self.uses_gpu(device):
            x = self.on_gpu(source, pre, device)
        return x if x is not None else self.fallback.one(source, pre, device)

    def on_gpu(
        self, source: ImageSource, pre: Preprocess, device: torch.device
    ) -> torch.Tensor | None:
        """One photo's 1x3xHxW input decoded by nvJPEG, or None when it must take the Pillow
        path (not a JPEG nvJPEG takes, or a decode that fails: the Pillow path then says why)."""
        if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
            return None
        pipe = self._single
        if pipe is None or pipe.device != device or pipe.pre != pre:
            pipe = self._single = GpuJpegPipeline(
                self.fallback, pre, device, 1, readers=1, backend=self.backend
            )
        read, refusal = pipe.load(source)
        if refusal is not None:
            return None
        (img,) = pipe.decode([read])
        if img is None:
            return None
        c = pre.crop_size
        levels = torch.empty((1, 3, c, c), dtype=torch.float32, device=device)
        resize_crop_into(img, pre, levels[0], pipe.orientation(read))
        return normalise_into(levels, pre)
