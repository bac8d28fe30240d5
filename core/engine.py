"""Run a loaded model on a device: one image, or many with decoding overlapped.

`Classifier` is the one object the CLI and the window's worker hold. It is not thread-safe:
one thread drives it (the window's worker thread), while `classify_many` decodes the next
images on a small pool so the network never waits for Pillow.

Speed without changing results (measured in `benchmarks/`): the network runs in channels-last
memory layout under `torch.inference_mode()`, large JPEGs are decoded at reduced size
(`core.decode.images`), folders are batched, and on CUDA batches go through pinned memory with
cuDNN's autotuner on. Lower precision (bf16 on CPU, fp16 on CUDA) is an opt-in
(`precision=`); fp32 stays the default.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.decode.images import DECODE_BUDGET, ImageSource, PixelBudget, read_image, source_name
from core.devices import device_name, resolve_device
from core.errors import ClassifierError, OutOfDeviceMemoryError
from core.model import LoadedModel
from core.results import ClassificationResult, ModelInfo, Prediction

log = logging.getLogger(__name__)

CancelCheck = Callable[[], bool]

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Prepared:
    """One decoded, preprocessed image (`tensor`), or why it could not be (`error`)."""

    path: str
    tensor: torch.Tensor | None
    error: str | None
    seconds: float


class Classifier:
    """A `LoadedModel` placed on a device, ready to classify.

    `precision` "fp32" (default) gives the reference probabilities; "bf16" (CPUs with bf16
    support) and "fp16" (CUDA) run under autocast: faster, top-1 almost always the same, the
    probabilities a little different (see `benchmarks/`).
    """

    def __init__(
        self,
        model: LoadedModel,
        device: str = "auto",
        *,
        precision: str = "fp32",
        decode: str = "auto",
        pixel_budget: PixelBudget | None = None,
    ) -> None:
        self.model = model
        # decoded pixels in flight across the decoding threads (default: shared process-wide)
        self.pixel_budget = pixel_budget or DECODE_BUDGET
        self.device = torch.device("cpu")
        self.precision = precision
        self.decode = decode  # "gpu", "cpu" or "auto": where JPEGs are decoded on CUDA
        self.to(device)

    @property
    def precision(self) -> str:
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        if value not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {value!r}")
        self._precision = value

    # ---- device -----------------------------------------------------------------------
    def to(self, spec: str) -> torch.device:
        """Move the model; on failure the previous device stays in use."""
        target = resolve_device(spec)
        if target == self.device and self._placed:
            return target
        try:
            # channels-last lets oneDNN and cuDNN skip a layout change in every convolution
            self.model.module.to(target, memory_format=torch.channels_last)
        except RuntimeError as exc:
            if not _is_out_of_memory(exc):
                raise
            self.model.module.to(self.device)
            _free_cuda()
            raise OutOfDeviceMemoryError(
                f"Not enough GPU memory on {device_name(target)} to hold the model."
            ) from None
        previous, self.device = self.device, target
        self._staging = None
        self._warm = False
        if previous.type == "cuda" and target != previous:
            _free_cuda()
        if target.type == "cuda":
            # inputs are always 224x224: let cuDNN pick the fastest kernels once per batch size
            torch.backends.cudnn.benchmark = True
        self._placed = True
        log.info("model on %s", target)
        return target

    _placed = False

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            source=self.model.source,
            num_classes=self.model.num_classes,
            device=str(self.device),
            device_name=device_name(self.device),
            labels=self.model.labels,
            notes=self.model.notes,
        )

    @property
    def warm(self) -> bool:
        """Whether the network has run on this device since it was placed there."""
        return self._warm

    def warm_up(self) -> None:
        """Run the network once on a blank image, unless it has run already.

        oneDNN and cuDNN set up their kernels on the first forward pass on a device (a first
        photo took 53 ms cold, 38 ms warmed here, `benchmarks/`): the window pays that while
        nobody waits for it.
        """
        if not self._warm:
            crop = self.model.preprocess.crop_size
            self.predict(torch.zeros(1, 3, crop, crop), top_k=1)

    _warm = False

    # ---- one image --------------------------------------------------------------------
    def prepare(self, source: ImageSource | Image.Image) -> torch.Tensor:
        """Decode and preprocess one image to a 3x224x224 tensor (raises `ImageReadError`)."""
        pre = self.model.preprocess
        img = source if isinstance(source, Image.Image) else read_image(source, pre.resize_size)
        return pre(img)

    def predict(self, batch: torch.Tensor, top_k: int = 5) -> list[tuple[Prediction, ...]]:
        """Top-k predictions for each row of a preprocessed batch."""
        return self.predict_with_features(batch, top_k, features=False)[0]

    def predict_with_features(
        self, batch: torch.Tensor, top_k: int = 5, features: bool = True
    ) -> tuple[list[tuple[Prediction, ...]], np.ndarray | None]:
        """Top-k predictions and, with `features`, each row's pooled features (the 2048 values
        `fc` takes, float32), caught on their way into `fc`: the same pass, no second one."""
        k = max(1, min(top_k, self.model.num_classes))
        caught: list[torch.Tensor] = []
        hook = (
            self.model.module.fc.register_forward_hook(lambda _m, inp, _o: caught.append(inp[0]))
            if features
            else None
        )
        try:
            with torch.inference_mode(), self._autocast():
                x = batch.to(self.device, non_blocking=True)
                x = x.contiguous(memory_format=torch.channels_last)
                logits = self.model.module(x)
                pooled = caught[0].float().cpu().numpy() if caught else None
                probs = torch.softmax(logits.float(), dim=1)
                values, indices = probs.topk(k, dim=1)
                values, indices = values.cpu().tolist(), indices.cpu().tolist()
            self._warm = True
        except RuntimeError as exc:
            if not _is_out_of_memory(exc):
                raise
            _free_cuda()
            raise OutOfDeviceMemoryError(
                f"The GPU ran out of memory ({device_name(self.device)}). Try fewer images at "
                "once, close other programs using the GPU, or switch to the CPU."
            ) from None
        finally:
            if hook is not None:
                hook.remove()
        labels = self.model.labels
        rows = [
            tuple(
                Prediction(rank=r + 1, index=i, label=labels[i], probability=float(p))
                for r, (i, p) in enumerate(zip(idx_row, val_row, strict=True))
            )
            for idx_row, val_row in zip(indices, values, strict=True)
        ]
        return rows, pooled

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        if self._precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self._precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def classify(
        self, source: ImageSource | Image.Image, top_k: int = 5, name: str | None = None
    ) -> ClassificationResult:
        """Classify one image; a bad image raises `ImageReadError`."""
        start = time.perf_counter()
        batch = self._gpu_input(source)  # None: the Pillow path
        if batch is None:
            batch = self.prepare(source).unsqueeze(0)
        (preds,) = self.predict(batch, top_k)
        return ClassificationResult(
            path=name if name is not None else source_name(source),
            predictions=preds,
            device=str(self.device),
            seconds=time.perf_counter() - start,
        )

    # ---- many images ------------------------------------------------------------------
    def classify_many(
        self,
        sources: Iterable[ImageSource],
        top_k: int = 5,
        batch_size: int = 8,
        cancel: CancelCheck | threading.Event | None = None,
        prefetch: int | None = None,
        workers: int | None = None,
        features: bool = False,
    ) -> Iterator[ClassificationResult]:
        """Yield one result per source, in order, as soon as it is ready.

        The next images decode on `workers` threads (default: fitted to the machine and the
        device) while the model runs; a bad image gives a result with `error` and the rest go
        on. Cancelling stops between batches. With `features`, each result carries the image's
        pooled features from the same pass (`ClassificationResult.features`).
        """
        if self._gpu_decoding():
            from core.decode.gpu_pipeline import classify_folder

            should_stop = _cancel_check(cancel)
            yield from classify_folder(self, list(sources), top_k, batch_size, should_stop, workers)
            return
        for batch in self.prepared_batches(sources, batch_size, cancel, prefetch, workers):
            yield from self._run_batch(batch, top_k, features)

    def prepared_batches(
        self,
        sources: Iterable[ImageSource],
        batch_size: int = 8,
        cancel: CancelCheck | threading.Event | None = None,
        prefetch: int | None = None,
        workers: int | None = None,
    ) -> Iterator[list[Prepared]]:
        """The sources decoded and preprocessed, in order, `batch_size` at a time.

        What `classify_many` runs the network on; `core.teach.training` extracts features from the
        same batches. Decoding runs ahead on a pool while the caller works on a batch; a bad
        image is a `Prepared` with `error`. Cancelling stops between batches.
        """
        should_stop = _cancel_check(cancel)
        items = list(sources)
        workers = max(1, workers or self._decode_workers())
        # keep every decoder busy while the main thread waits for the oldest image in order
        ahead = prefetch or max(batch_size * 2, workers * (4 if self.device.type == "cuda" else 2))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
            pending: list[Future[Prepared]] = []
            next_index = 0

            def fill() -> None:
                nonlocal next_index
                while next_index < len(items) and len(pending) < ahead:
                    pending.append(pool.submit(self._prepare_one, items[next_index]))
                    next_index += 1

            fill()
            try:
                while pending:
                    if should_stop():
                        return
                    batch = [pending.pop(0).result() for _ in range(min(batch_size, len(pending)))]
                    fill()
                    yield batch
            finally:
                for fut in pending:
                    fut.cancel()

    # ---- JPEGs decoded on the GPU (core.decode.gpu_pipeline) ------------------------------------
    def _gpu_decoding(self) -> bool:
        if self.device.type != "cuda" or self.decode == "cpu":
            return False
        from core.decode.gpu_pipeline import wants_gpu_decoding

        return wants_gpu_decoding(self)

    def _gpu_input(self, source: object) -> torch.Tensor | None:
        if isinstance(source, Image.Image) or not self._gpu_decoding():
            return None
        from core.decode.gpu_pipeline import prepare_on_gpu

        return prepare_on_gpu(self, source)

    def _decode_workers(self) -> int:
        cores = os.cpu_count() or 2
        if self.device.type == "cuda":
            # the GPU outruns one decoder many times over: decode on all cores but the one
            # that drives the GPU (measured on 16 cores: 8 decoders 292 images/s, 15: 340)
            return max(2, min(16, cores - 1))
        # on the CPU decoders share the cores with the network; a few keep it fed
        return max(1, min(4, cores))

    def _prepare_one(self, source: ImageSource) -> Prepared:
        start = time.perf_counter()
        name = source_name(source)
        try:
            pre = self.model.preprocess
            # the decoded picture is held, and counted in the budget, only until it is a tensor
            with self.pixel_budget.claim() as claim:
                tensor = pre(read_image(source, pre.resize_size, claim=claim))
            return Prepared(name, tensor, None, time.perf_counter() - start)
        except ClassifierError as exc:
            return Prepared(name, None, exc.message, time.perf_counter() - start)
        except Exception as exc:  # never let one file stop the run
            log.exception("unexpected error preparing %s", name)
            return Prepared(name, None, f"{Path(name).name}: {exc}", 0.0)

    def _run_batch(
        self, batch: list[Prepared], top_k: int, features: bool = False
    ) -> Iterator[ClassificationResult]:
        good = [p for p in batch if p.tensor is not None]
        preds: dict[int, tuple[Prediction, ...]] = {}
        feats: dict[int, np.ndarray] = {}
        error: str | None = None
        seconds = 0.0
        if good:
            start = time.perf_counter()
            try:
                stacked = self._stack([p.tensor for p in good])  # type: ignore[misc]
                rows, pooled = self.predict_with_features(stacked, top_k, features)
                preds = {id(p): r for p, r in zip(good, rows, strict=True)}
                if pooled is not None:
                    feats = {id(p): f.copy() for p, f in zip(good, pooled, strict=True)}
            except OutOfDeviceMemoryError as exc:
                error = exc.message
            seconds = (time.perf_counter() - start) / len(good)
        device = str(self.device)
        for p in batch:
            if p.tensor is None:
                yield ClassificationResult(path=p.path, error=p.error, device=device)
            elif id(p) in preds:
                yield ClassificationResult(
                    path=p.path,
                    predictions=preds[id(p)],
                    device=device,
                    seconds=p.seconds + seconds,
                    features=feats.get(id(p)),
                )
            else:
                yield ClassificationResult(path=p.path, error=error, device=device)

    def _stack(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        """One batch. For a GPU, in a pinned buffer kept between batches: allocating (and
        pinning) fresh memory for every batch costs more than the copy it speeds up."""
        if self.device.type != "cuda":
            return torch.stack(tensors)
        shape = (len(tensors), *tensors[0].shape)
        buf = self._staging
        if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:]:
            buf = self._staging = torch.empty(shape, pin_memory=True)
        # the previous batch's copy out of this buffer must be over before it is overwritten
        torch.cuda.current_stream(self.device).synchronize()
        out = buf[: shape[0]]
        # numpy copies on this thread alone; torch.stack would start a team of OpenMP threads
        # that wait for cores the decoders hold (measured: 30-50 ms a batch on 16 busy cores)
        np.stack([t.numpy() for t in tensors], out=out.numpy())
        return out

    _staging: torch.Tensor | None = None

    def stack(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        """One batch of `prepared_batches` tensors, staged for this device as `classify_many`
        stages its own."""
        return self._stack(tensors)


def _cancel_check(cancel: CancelCheck | threading.Event | None) -> CancelCheck:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def _is_out_of_memory(exc: RuntimeError) -> bool:
    """CUDA's own OOM, or cuDNN/cuBLAS failing to allocate their workspace (a plain
    RuntimeError naming the status)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return "out of memory" in text or "ALLOC_FAILED" in text


def _free_cuda() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
