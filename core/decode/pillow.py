"""The Pillow decoder: every format, on a pool of threads a window ahead of the network.

Speed without changing results (measured in `benchmarks/`): large JPEGs are decoded at reduced
size (`core.decode.images`), the next images decode on a small pool while the network runs, and
on CUDA batches are stacked into a pinned buffer kept between batches.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.decode.batch import Prepared, PreparedBatch, StopCheck
from core.decode.budget import DECODE_BUDGET, PixelBudget
from core.decode.files import ImageSource, source_name
from core.decode.images import DRAFT_OVERSAMPLE, read_image
from core.decode.preprocess import Preprocess
from core.errors import ClassifierError

log = logging.getLogger(__name__)


class PillowDecoder:
    """Decodes with Pillow on `workers` threads (default: fitted to the machine and the device),
    each decode waiting for its pixels to fit in `pixel_budget` (default: the process-wide one).
    `prefetch` images are decoded ahead of the network (default: enough to keep every thread
    busy). Large JPEGs are decoded at reduced size down to `draft_oversample` times the model's
    resize (None: always in full; `benchmarks/` measures the choice)."""

    def __init__(
        self,
        pixel_budget: PixelBudget | None = None,
        workers: int | None = None,
        prefetch: int | None = None,
        draft_oversample: int | None = DRAFT_OVERSAMPLE,
    ) -> None:
        self.pixel_budget = pixel_budget or DECODE_BUDGET
        self.workers = workers
        self.prefetch = prefetch
        self.draft_oversample = draft_oversample
        self._staging: torch.Tensor | None = None

    @property
    def pillow(self) -> PillowDecoder:
        return self

    # ---- one image --------------------------------------------------------------------
    def read(self, source: ImageSource, pre: Preprocess) -> Image.Image:
        """The picture the network sees, decoded (RGB, upright, maybe reduced) before resizing."""
        return read_image(source, pre.resize_size, oversample=self.draft_oversample)

    def prepare(self, source: ImageSource | Image.Image, pre: Preprocess) -> torch.Tensor:
        """One image as a 3xHxW tensor (raises `ImageReadError`)."""
        img = source if isinstance(source, Image.Image) else self.read(source, pre)
        return pre(img)

    def one(
        self, source: ImageSource | Image.Image, pre: Preprocess, device: torch.device
    ) -> torch.Tensor:
        return self.prepare(source, pre).unsqueeze(0)

    def prepare_one(self, source: ImageSource, pre: Preprocess) -> Prepared:
        """One image decoded within the budget; a bad one is a `Prepared` with `error`."""
        start = time.perf_counter()
        name = source_name(source)
        try:
            # the decoded picture is held, and counted in the budget, only until it is a tensor
            with self.pixel_budget.claim() as claim:
                img = read_image(
                    source, pre.resize_size, claim=claim, oversample=self.draft_oversample
                )
                tensor = pre(img)
            return Prepared(name, tensor, None, time.perf_counter() - start)
        except ClassifierError as exc:
            return Prepared(name, None, exc.message, time.perf_counter() - start)
        except Exception as exc:  # never let one file stop the run
            log.exception("unexpected error preparing %s", name)
            return Prepared(name, None, f"{Path(name).name}: {exc}", 0.0)

    # ---- many images ------------------------------------------------------------------
    def batches(
        self,
        sources: Sequence[ImageSource],
        pre: Preprocess,
        device: torch.device,
        batch_size: int,
        stop: StopCheck,
        workers: int | None = None,
    ) -> Iterator[PreparedBatch]:
        """The sources prepared, in order, `batch_size` at a time, decoding running ahead on a
        pool while the caller works on a batch. Stops between batches once `stop()` is true."""
        items = list(sources)
        workers = max(1, workers or self.workers or self.workers_for(device))
        # keep every decoder busy while the main thread waits for the oldest image in order
        ahead = self.prefetch or max(batch_size * 2, workers * (4 if device.type == "cuda" else 2))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
            pending: list[Future[Prepared]] = []
            next_index = 0

            def fill() -> None:
                nonlocal next_index
                while next_index < len(items) and len(pending) < ahead:
                    pending.append(pool.submit(self.prepare_one, items[next_index], pre))
                    next_index += 1

            fill()
            try:
                while pending:
                    if stop():
                        return
                    batch = [pending.pop(0).result() for _ in range(min(batch_size, len(pending)))]
                    fill()
                    yield PreparedBatch.of(batch, lambda ts: self.stack(ts, device))
            finally:
                for fut in pending:
                    fut.cancel()

    @staticmethod
    def workers_for(device: torch.device) -> int:
        """Decoding threads that keep the network on `device` fed."""
        cores = os.cpu_count() or 2
        if device.type == "cuda":
            # the GPU outruns one decoder many times over: decode on all cores but the one
            # that drives the GPU (measured on 16 cores: 8 decoders 292 images/s, 15: 340)
            return max(2, min(16, cores - 1))
        # on the CPU decoders share the cores with the network; a few keep it fed
        return max(1, min(4, cores))

    def stack(self, tensors: list[torch.Tensor], device: torch.device) -> torch.Tensor:
        """One batch for `device`. For a GPU, in a pinned buffer kept between batches:
        allocating (and pinning) fresh memory for every batch costs more than the copy it
        speeds up."""
        if device.type != "cuda":
            return torch.stack(tensors)
        shape = (len(tensors), *tensors[0].shape)
        buf = self._staging
        if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:]:
            buf = self._staging = torch.empty(shape, pin_memory=True)
        # the previous batch's copy out of this buffer must be over before it is overwritten
        torch.cuda.current_stream(device).synchronize()
        out = buf[: shape[0]]
        # numpy copies on this thread alone; torch.stack would start a team of OpenMP threads
        # that wait for cores the decoders hold (measured: 30-50 ms a batch on 16 busy cores)
        np.stack([t.numpy() for t in tensors], out=out.numpy())
        return out
