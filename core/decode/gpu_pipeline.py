"""A folder's JPEGs decoded by the GPU and the CPU at once, a batch ahead of the network.

On a GPU the Pillow path is decode-bound: 15 decoding threads feed 376 images/s to a network that
takes over 5,000 (`benchmarks/results/gpu.md`). Here nvJPEG decodes most JPEGs and Pillow's
threads decode the rest, and neither waits for the other (`benchmarks/results/gpu_decode.md`):

- reader threads read each file and parse its header (`core.decode.jpeg_header`). What nvJPEG cannot
  take (other formats, CMYK, progressive...) goes through the engine's Pillow path on that
  thread, so its result, or its error record, is the CPU path's;
- one decoder thread hands nvJPEG the queued JPEGs, many per call (`core.decode.gpu_decode`: the call
  blocks and holds a global lock, so a second caller would only wait);
- while nvJPEG is busy and the readers are a window ahead, they take JPEGs back from the end of
  its queue, largest first (Pillow decodes those at 1/2 to 1/8 scale), and decode them with
  Pillow: the CPU's share grows until nvJPEG has no queue;
- an assembly thread orients, resizes and crops what nvJPEG decoded into its batch's rows on a
  side stream, and hands the batches over in order, each with an event the network waits on.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from core.decode.gpu_decode import (
    BatchAssembly,
    GpuBatch,
    NvJpeg,
    draft_factor,
    gpu_decode_unavailable,
    greyscale_decoded_right,
    normalise_into,
    orient,
    resize_crop_into,
)
from core.decode.images import size_is_refused, source_name
from core.decode.jpeg_header import JpegHeader, as_one_by_one_sampling, parse_jpeg_header
from core.decode.preprocess import Preprocess
from core.results import ClassificationResult

if TYPE_CHECKING:
    from core.model import LoadedModel
    from core.results import Prediction

__all__ = [
    "DECODE_CHOICES",
    "GpuBatch",
    "GpuJpegPipeline",
    "classify_folder",
    "draft_factor",
    "gpu_decode_unavailable",
    "normalise_into",
    "orient",
    "parse_jpeg_header",
    "prepare_on_gpu",
    "resize_crop_into",
    "take",
    "wants_gpu_decoding",
]


class Classifier(Protocol):
    """What this pipeline uses of `core.engine.Classifier`. Structural, so that this module,
    which the engine imports, does not import the engine back."""

    model: LoadedModel
    device: torch.device

    def predict(self, batch: torch.Tensor, top_k: int = 5) -> list[tuple[Prediction, ...]]: ...

    def _prepare_one(self, source: Any) -> Any: ...  # core.engine.Prepared


log = logging.getLogger(__name__)

DECODE_CHOICES = ("auto", "gpu", "cpu")

# What `decode="auto"` means on CUDA: the GPU path, or the Pillow path. Set from the agreement
# measured on the benchmark folder (`benchmarks/results/gpu_decode.md`, README "GPU decoding").
GPU_DECODE_BY_DEFAULT = True

# Folder batches on the GPU path are at least this large: fewer batch boundaries to wait at
# (H100, 2,000 photos, fp32: 1,711 images/s at 256 against 1,377 at 128).
GPU_MIN_BATCH = 256

# One nvJPEG call takes at most this many files and megapixels: the hardware decoders need
# many files at once (H100: 1,458 images/s in calls of 8, 2,488 of 128, 2,548 of 256), and the
# decoded pictures wait on the GPU until they are resized.
NVJPEG_CHUNK = 256
NVJPEG_CHUNK_MEGAPIXELS = 400.0

# Files are read by `torchvision.io.read_file` (else by Python's `open`); see `_read_bytes`.
READ_IN_ONE_CALL = True

# A file is read whole for nvJPEG; a larger one (no photo's JPEG is near it, a renamed video
# may be gigabytes) takes the Pillow path, which reads only what it decodes.
MAX_GPU_FILE_BYTES = 64 * 1024 * 1024


# ---- one file, and one batch ----------------------------------------------------------------
@dataclass
class _Read:
    """One file after its reader thread: encoded bytes for the GPU, or the Pillow path's
    result when the GPU cannot take it."""

    source: object
    name: str
    data: torch.Tensor | None = None
    header: JpegHeader | None = None
    prepared: Any = None  # core.engine.Prepared, from the Pillow path
    seconds: float = 0.0


def _read_bytes(source: object) -> torch.Tensor:
    """A file's bytes as a uint8 tensor. `torchvision.io.read_file` reads it in one call that
    lets go of the GIL once (Python's open, stat and read take it back three times more, and
    each time may wait for the thread that holds it)."""
    if isinstance(source, bytes):
        return torch.frombuffer(bytearray(source), dtype=torch.uint8)
    if READ_IN_ONE_CALL and isinstance(source, (str, os.PathLike)):
        from torchvision.io import read_file

        return read_file(os.fspath(source))
    with open(source, "rb") as f:  # type: ignore[arg-type]
        raw = bytearray(os.fstat(f.fileno()).st_size)
        if f.readinto(raw) != len(raw) or not raw:
            raise OSError("changed while read")
    return torch.frombuffer(raw, dtype=torch.uint8)


def _read_whole(source: object) -> tuple[torch.Tensor | None, str | None]:
    """The file's bytes for nvJPEG, or None and why the Pillow path reads it instead (it reads
    only what it decodes, and says what is wrong with a missing or empty file)."""
    try:
        path = None if isinstance(source, bytes) else os.fspath(source)  # type: ignore[arg-type]
        if path is not None and os.stat(path).st_size > MAX_GPU_FILE_BYTES:
            return None, "over 64 MB"
        return _read_bytes(source), None
    except (OSError, RuntimeError, TypeError):
        return None, "unreadable"


# ---- the pipeline ---------------------------------------------------------------------------
class GpuJpegPipeline:
    """Files read and routed on threads, decoded by nvJPEG and Pillow at once, batches in order.

    `batches` yields `GpuBatch`es in order; the caller makes its stream wait on `ready` (`take`).
    """

    def __init__(
        self,
        clf: Classifier,
        batch_size: int = GPU_MIN_BATCH,
        readers: int | None = None,
        depth: int = 2,
        share: bool = True,
        chunk: int | None = None,
    ) -> None:
        self.clf = clf
        self.pre: Preprocess = clf.model.preprocess
        self.device = clf.device
        self.batch_size = max(1, batch_size)
        # more readers than this fight over the GIL (H100, 16 cores: 8 readers beat 15 and 4)
        self.readers = readers or max(2, min(8, (os.cpu_count() or 2) - 1))
        self.depth = max(1, depth)
        self.share = share  # readers decode queued JPEGs with Pillow while nvJPEG is busy
        self.chunk = max(1, chunk or NVJPEG_CHUNK)
        self.routes: collections.Counter[str] = collections.Counter()
        self._routes_lock = threading.Lock()
        # seconds of the last `batches` run: each thread's busy and waiting time (benchmarks)
        self.stats: collections.Counter[str] = collections.Counter()
        self.nvjpeg = NvJpeg(self.device, self._count)
        self.stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        self.grey_ok = greyscale_decoded_right(self.device)

    # -- one file --
    def load(self, source: object) -> tuple[_Read, str | None]:
        """The file's bytes and header, and why it must take the Pillow path (None: nvJPEG)."""
        start = time.perf_counter()
        name = source_name(source)
        data, refusal = _read_whole(source)
        if data is None:
            return _Read(source, name, seconds=time.perf_counter() - start), refusal
        raw = data.numpy()
        header = parse_jpeg_header(raw)
        refusal = self.refusal(header)
        if refusal is None and header.components == 1:  # type: ignore[union-attr]
            as_one_by_one_sampling(raw)
        data = None if refusal else data
        return _Read(source, name, data, header, None, time.perf_counter() - start), refusal

    def read(self, source: object) -> _Read:
        """`load`, and the Pillow path at once for a file nvJPEG cannot take."""
        r, refusal = self.load(source)
        return r if refusal is None else self.pillow(r, refusal)

    def refusal(self, header: JpegHeader | None) -> str | None:
        """Why a file with this header takes the Pillow path here, or None for nvJPEG."""
        if header is None:
            return "not a JPEG"
        refusal = header.gpu_refusal()
        if refusal is None and header.components == 1 and not self.grey_ok:
            refusal = "greyscale"
        if refusal is None and size_is_refused((header.width, header.height)):
            refusal = "a size the Pillow path refuses"
        return refusal

    def pillow(self, r: _Read, why: str) -> _Read:
        """The engine's Pillow path for this file (its result or its error record)."""
        log.debug("%s: Pillow path (%s)", r.name, why)
        self._count(f"Pillow: {why}")
        start = time.perf_counter()
        r.prepared = self.clf._prepare_one(r.source)  # type: ignore[arg-type]
        r.data = None
        r.seconds += time.perf_counter() - start - r.prepared.seconds
        return r

    def _count(self, route: str, n: int = 1) -> None:
        with self._routes_lock:
            self.routes[route] += n

    # -- decoding --
    def decode(self, reads: list[_Read]) -> list[torch.Tensor | None]:
        """nvJPEG on the whole list; None where it refuses a file (see `NvJpeg`)."""
        out = self.nvjpeg.decode([r.data for r in reads])  # type: ignore[misc]
        self._count("nvJPEG", sum(img is not None for img in out))
        return out

    def place(self, asm: BatchAssembly, i: int, r: _Read, img: torch.Tensor | None) -> None:
        """A decoded picture into its row; a file nvJPEG refused through Pillow instead."""
        if img is None:
            asm.put(i, self.pillow(r, "nvJPEG refused it"))
        else:
            asm.put_decoded(i, r, img)

    def build(self, reads: list[_Read]) -> GpuBatch:
        """One batch decoded and assembled on this thread (single photos, tests)."""
        asm = BatchAssembly(self.pre, self.device, len(reads))
        gpu = [(i, r) for i, r in enumerate(reads) if r.data is not None]
        for (i, r), img in zip(gpu, self.decode([r for _, r in gpu]), strict=True):
            self.place(asm, i, r, img)
        for i, r in enumerate(reads):
            if asm.reads[i] is None:
                asm.put(i, r)
        return asm.finish()

    # -- the folder --
    def batches(
        self, sources: Iterable[object], stop: threading.Event | None = None
    ) -> Iterator[GpuBatch]:
        """Batches in order, built by reader, decoder and assembly threads a window ahead."""
        run = _Run(self, list(sources), stop or threading.Event())
        self.stats = run.stats
        run.start()
        try:
            while True:
                start = time.perf_counter()
                got = run.out.get()
                run.stats["caller_waiting_s"] += time.perf_counter() - start
                if got is _DONE:
                    return
                if isinstance(got, BaseException):
                    raise got
                yield got  # type: ignore[misc]
        finally:
            run.close()


_DONE = object()


class _Run:
    """The threads of one `batches` call and the state they share under one condition."""

    def __init__(self, pipe: GpuJpegPipeline, items: list[object], stop: threading.Event):
        self.pipe, self.items, self.stop = pipe, items, stop
        self.size = pipe.batch_size
        self.window = pipe.batch_size * (pipe.depth + 1)
        self.cond = threading.Condition()
        self.next_read = 0  # the next item a reader loads
        self.loading = 0  # items being loaded now
        self.front = 0  # the first item of the oldest batch not yet handed over
        self.queued: list[tuple[int, _Read]] = []  # loaded, waiting for nvJPEG
        self.decoding = False
        self.inbox: queue.Queue[object] = queue.Queue()  # to the assembly thread
        self.out: queue.Queue[object] = queue.Queue(maxsize=pipe.depth)
        self.stats: collections.Counter[str] = collections.Counter()
        self.threads = [
            threading.Thread(target=self._guard(self._reader), name=f"read-{k}", daemon=True)
            for k in range(pipe.readers)
        ]
        self.threads += [
            threading.Thread(target=self._guard(self._decoder), name="nvjpeg", daemon=True),
            threading.Thread(target=self._assembler, name="assemble", daemon=True),
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def close(self) -> None:
        self.stop.set()
        with self.cond:
            self.cond.notify_all()
        self.inbox.put(_DONE)
        while any(t.is_alive() for t in self.threads):  # a thread blocked on a full queue
            with contextlib.suppress(queue.Empty):
                self.out.get(timeout=0.05)
        for t in self.threads:
            t.join()

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                with torch.cuda.stream(self.pipe.stream):
                    fn()
            except BaseException as exc:  # handed to the caller's thread
                self.inbox.put(exc)

        return run

    def _can_read(self) -> bool:
        return self.next_read < min(len(self.items), self.front + self.window)

    def _reader(self) -> None:
        pipe = self.pipe
        while True:
            with self.cond:
                while True:
                    if self.stop.is_set():
                        return
                    if self._can_read():
                        i, stolen = self.next_read, None
                        self.next_read += 1
                        self.loading += 1
                        break
                    if pipe.share and self.decoding and len(self.queued) > pipe.chunk:
                        i, stolen = self._steal()
                        break
                    if self.next_read >= len(self.items) and not self.queued:
                        return
                    self.cond.wait()
            start = time.perf_counter()
            if stolen is not None:
                self.inbox.put((i, pipe.pillow(stolen, "nvJPEG busy")))
                with self.cond:
                    self.stats["pillow_thread_s"] += time.perf_counter() - start
                continue
            r, refusal = pipe.load(self.items[i])
            loaded = time.perf_counter()
            if refusal is not None:
                self.inbox.put((i, pipe.pillow(r, refusal)))
            with self.cond:
                self.stats["reading_thread_s"] += loaded - start
                self.stats["pillow_thread_s"] += time.perf_counter() - loaded
                self.loading -= 1
                if refusal is None:
                    self.queued.append((i, r))
                self.cond.notify_all()

    def _steal(self) -> tuple[int, _Read]:
        """The largest of the JPEGs nvJPEG would take last (its next call's worth)."""
        tail = range(max(0, len(self.queued) - self.pipe.chunk), len(self.queued))
        k = max(tail, key=lambda j: self.queued[j][1].header.megapixels)  # type: ignore[union-attr]
        return self.queued.pop(k)

    def _decoder(self) -> None:
        pipe, stats = self.pipe, self.stats
        while True:
            start = time.perf_counter()
            with self.cond:
                while True:
                    if self.stop.is_set():
                        return
                    if len(self.queued) >= pipe.chunk or (self.queued and not self._can_read()):
                        take = self._take()
                        self.decoding = True
                        self.cond.notify_all()  # readers may take JPEGs back meanwhile
                        break
                    if not self.queued and not self.loading and self.next_read >= len(self.items):
                        return
                    self.cond.wait()
            begin = time.perf_counter()
            self.inbox.put((take, pipe.decode([r for _, r in take])))
            stats["nvjpeg_waiting_s"] += begin - start
            stats["nvjpeg_busy_s"] += time.perf_counter() - begin
            with self.cond:
                self.decoding = False

    def _take(self) -> list[tuple[int, _Read]]:
        """The oldest queued JPEGs, up to a chunk's files and megapixels."""
        n, mp = 0, 0.0
        while n < min(self.pipe.chunk, len(self.queued)) and mp < NVJPEG_CHUNK_MEGAPIXELS:
            mp += self.queued[n][1].header.megapixels  # type: ignore[union-attr]
            n += 1
        take, self.queued[:n] = self.queued[:n], []
        return take

    def _assembler(self) -> None:
        pipe, size, total = self.pipe, self.size, len(self.items)
        pending: dict[int, BatchAssembly] = {}
        done = 0
        try:
            with torch.cuda.stream(pipe.stream):
                while done * size < total:
                    start = time.perf_counter()
                    msg = self.inbox.get()
                    begin = time.perf_counter()
                    self.stats["assembly_waiting_s"] += begin - start
                    if msg is _DONE or self.stop.is_set():
                        return
                    if isinstance(msg, BaseException):
                        raise msg
                    first, second = msg  # type: ignore[misc]
                    if isinstance(first, int):  # one file through Pillow
                        self._batch(pending, first).put(first % size, second)
                    else:  # nvJPEG's chunk
                        for (i, r), img in zip(first, second, strict=True):
                            pipe.place(self._batch(pending, i), i % size, r, img)
                    self.stats["assembly_busy_s"] += time.perf_counter() - begin
                    begin = time.perf_counter()
                    while done in pending and pending[done].missing == 0:
                        batch = pending.pop(done).finish()
                        self.stats["assembly_busy_s"] += time.perf_counter() - begin
                        self.out.put(batch)
                        begin = time.perf_counter()
                        done += 1
                        with self.cond:
                            self.front = done * size
                            self.cond.notify_all()
        except BaseException as exc:
            self.out.put(exc)
        finally:
            self.out.put(_DONE)

    def _batch(self, pending: dict[int, BatchAssembly], i: int) -> BatchAssembly:
        b = i // self.size
        if b not in pending:
            pending[b] = BatchAssembly(
                self.pipe.pre, self.pipe.device, min(self.size, len(self.items) - b * self.size)
            )
        return pending[b]


def take(batch: GpuBatch, device: torch.device) -> torch.Tensor | None:
    """The batch's tensor, safe to use on `device`'s current stream."""
    if batch.tensor is None:
        return None
    if batch.ready is not None:
        stream = torch.cuda.current_stream(device)
        stream.wait_event(batch.ready)
        batch.tensor.record_stream(stream)
    return batch.tensor


# ---- what the engine calls ----------------------------------------------------------------
def wants_gpu_decoding(clf: Classifier, decode: str | None = None) -> bool:
    """Whether `clf` takes the GPU path: on CUDA, with `decode` "gpu" (or "auto" while the GPU
    path is the default), and nvJPEG working there."""
    choice = decode or getattr(clf, "decode", "auto")
    if clf.device.type != "cuda" or choice == "cpu":
        return False
    if choice == "auto" and not GPU_DECODE_BY_DEFAULT:
        return False
    reason = gpu_decode_unavailable(clf.device)
    if reason is not None:
        log.warning("JPEGs are decoded by Pillow: the GPU cannot decode them here (%s)", reason)
        return False
    return True


def classify_folder(
    clf: Classifier,
    sources: Iterable[object],
    top_k: int,
    batch_size: int,
    should_stop: Callable[[], bool],
    readers: int | None = None,
    min_batch: int = GPU_MIN_BATCH,
    share: bool = True,
) -> Iterator[ClassificationResult]:
    """`Classifier.classify_many` on the GPU path: same results, same order, same errors."""
    from core.errors import OutOfDeviceMemoryError

    pipe = GpuJpegPipeline(clf, max(batch_size, min_batch), readers, share=share)
    device = str(clf.device)
    for batch in pipe.batches(sources):
        if should_stop():
            return
        start = time.perf_counter()
        preds: list = []
        error: str | None = None
        x = take(batch, clf.device)
        if x is not None:
            try:
                preds = clf.predict(x, top_k)
            except OutOfDeviceMemoryError as exc:
                error = exc.message
        share_s = (time.perf_counter() - start) / max(1, len(preds))
        for name, row, err, secs in zip(
            batch.names, batch.rows, batch.errors, batch.seconds, strict=True
        ):
            if row is None:
                yield ClassificationResult(path=name, error=err, device=device)
            elif error is not None:
                yield ClassificationResult(path=name, error=error, device=device)
            else:
                yield ClassificationResult(
                    path=name, predictions=preds[row], device=device, seconds=secs + share_s
                )


def prepare_on_gpu(clf: Classifier, source: object) -> torch.Tensor | None:
    """One photo's 1x3xHxW input on the GPU, or None when it must take the Pillow path
    (not a JPEG nvJPEG takes, or a decode that fails: the Pillow path then says why)."""
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        return None
    pipe = _single_pipe(clf)
    read, refusal = pipe.load(source)
    if refusal is not None:
        return None
    (img,) = pipe.decode([read])
    if img is None:
        return None
    c = pipe.pre.crop_size
    levels = torch.empty((1, 3, c, c), dtype=torch.float32, device=clf.device)
    resize_crop_into(img, pipe.pre, levels[0], read.header.orientation)  # type: ignore[union-attr]
    return normalise_into(levels, pipe.pre)


def _single_pipe(clf: Classifier) -> GpuJpegPipeline:
    pipe = getattr(clf, "_gpu_single_pipe", None)
    if pipe is None or pipe.device != clf.device or pipe.pre != clf.model.preprocess:
        pipe = GpuJpegPipeline(clf, batch_size=1, readers=1)
        clf._gpu_single_pipe = pipe  # type: ignore[attr-defined]
    return pipe
