"""Run a loaded model on a device: one image, or many with decoding overlapped.

`Classifier` is the one object the CLI and the window's worker hold. It holds a decoder
(`core.decode`: `PillowDecoder`, or `GpuJpegDecoder` that falls back to it) that turns sources
into prepared batches; the classifier runs the network on them and builds the results. It is not
thread-safe: one thread drives it (the window's worker thread), while the decoder works ahead on
threads of its own so the network never waits.

Speed without changing results (measured in `benchmarks/`): the network runs in channels-last
memory layout under `torch.inference_mode()`, and on CUDA with cuDNN's autotuner on; the
decoders keep their own (`core.decode.pillow`, `core.decode.gpu`). Lower precision (bf16 on CPU,
fp16 on CUDA) is an opt-in (`precision=`); fp32 stays the default.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from PIL import Image

from core.cancel import CancelLike, stop_check
from core.decode.batch import PreparedBatch
from core.decode.decoder import Decoder
from core.decode.files import ImageSource, source_name
from core.decode.gpu import decoder_for
from core.devices import device_name, resolve_device
from core.errors import OutOfDeviceMemoryError
from core.gpu_memory import free_cached_memory, is_out_of_memory
from core.model import LoadedModel
from core.results import ClassificationResult, ModelInfo, Prediction

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")


class Classifier:
    """A `LoadedModel` placed on a device, ready to classify.

    `precision` "fp32" (default) gives the reference probabilities; "bf16" (CPUs with bf16
    support) and "fp16" (CUDA) run under autocast: faster, top-1 almost always the same, the
    probabilities a little different (see `benchmarks/`). `decoder` turns images into input
    (default: `GpuJpegDecoder`, which is the Pillow decoder but on a CUDA device with nvJPEG).
    """

    def __init__(
        self,
        model: LoadedModel,
        device: str = "auto",
        *,
        precision: str = "fp32",
        decoder: Decoder | None = None,
    ) -> None:
        self.model = model
        self.decoder: Decoder = decoder if decoder is not None else decoder_for("auto")
        self.device = torch.device("cpu")
        self.precision = precision
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
            if not is_out_of_memory(exc):
                raise
            self.model.module.to(self.device)
            free_cached_memory()
            raise OutOfDeviceMemoryError(
                f"Not enough GPU memory on {device_name(target)} to hold the model."
            ) from None
        previous, self.device = self.device, target
        self._warm = False
        if previous.type == "cuda" and target != previous:
            free_cached_memory()
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
        """Decode and preprocess one image with Pillow to a 3x224x224 tensor on the CPU (raises
        `ImageReadError`): the reference input the GPU path is measured against."""
        return self.decoder.pillow.prepare(source, self.model.preprocess)

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
            if not is_out_of_memory(exc):
                raise
            free_cached_memory()
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
        batch = self.decoder.one(source, self.model.preprocess, self.device)
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
        cancel: CancelLike = None,
        workers: int | None = None,
        features: bool = False,
    ) -> Iterator[ClassificationResult]:
        """Yield one result per source, in order, as soon as it is ready.

        The decoder works ahead on `workers` threads (default: fitted to the machine and the
        device) while the model runs; a bad image gives a result with `error` and the rest go
        on. Cancelling stops between batches. With `features`, each result carries the image's
        pooled features from the same pass (`ClassificationResult.features`).
        """
        batches = self.decoder.batches(
            list(sources),
            self.model.preprocess,
            self.device,
            batch_size,
            stop_check(cancel),
            workers,
        )
        for batch in batches:
            yield from self.classify_batch(batch, top_k, features)

    def classify_batch(
        self, batch: PreparedBatch, top_k: int = 5, features: bool = False
    ) -> list[ClassificationResult]:
        """The results of one prepared batch, in its order (with their pooled features, if
        asked); when the GPU runs out of memory, each decoded image's result carries that error."""
        x = batch.input(self.device)
        preds: list[tuple[Prediction, ...]] = []
        pooled: np.ndarray | None = None
        error: str | None = None
        start = time.perf_counter()
        if x is not None:
            try:
                preds, pooled = self.predict_with_features(x, top_k, features)
            except OutOfDeviceMemoryError as exc:
                error = exc.message
        share = (time.perf_counter() - start) / max(1, len(preds))
        device = str(self.device)
        out = []
        for name, row, err, seconds in zip(
            batch.names, batch.rows, batch.errors, batch.seconds, strict=True
        ):
            if row is None:
                out.append(ClassificationResult(path=name, error=err, device=device))
            elif error is not None:
                out.append(ClassificationResult(path=name, error=error, device=device))
            else:
                out.append(
                    ClassificationResult(
                        path=name,
                        predictions=preds[row],
                        device=device,
                        seconds=seconds + share,
                        features=None if pooled is None else pooled[row].copy(),
                    )
                )
        return out
