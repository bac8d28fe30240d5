"""A folder's threads on the GPU path: readers, one nvJPEG caller and an assembler, a window
ahead of the network (the scheme: `core.decode.gpu_pipeline`).

`PipelineRun(pipe, sources).batches()` yields `PreparedBatch`es in order; the consumer makes its
stream wait on each one's `ready` event (`PreparedBatch.input`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator

import torch

from core.decode.batch import PreparedBatch
from core.decode.gpu_decode import BatchAssembly, FileRead
from core.decode.gpu_pipeline import NVJPEG_CHUNK_MEGAPIXELS, GpuJpegPipeline
from core.decode.routing import pillow_over_nvjpeg

_DONE = object()


class PipelineRun:
    """The threads of one folder's run and the state they share under one condition."""

    def __init__(self, pipe: GpuJpegPipeline, items: list[object]) -> None:
        self.pipe, self.items, self.stop = pipe, items, threading.Event()
        self.size = pipe.batch_size
        self.window = pipe.batch_size * (pipe.depth + 1)
        self.cond = threading.Condition()
        self.next_read = 0  # the next item a reader loads
        self.loading = 0  # items being loaded now
        self.front = 0  # the first item of the oldest batch not yet handed over
        # loaded, waiting for nvJPEG: (item, read, how much Pillow would gain on it)
        self.queued: list[tuple[int, FileRead, float]] = []
        self.decoding = False
        self.inbox: queue.Queue[object] = queue.Queue()  # to the assembly thread
        self.out: queue.Queue[object] = queue.Queue(maxsize=pipe.depth)
        self.threads = [
            threading.Thread(target=self._guard(self._reader), name=f"read-{k}", daemon=True)
            for k in range(pipe.readers)
        ]
        self.threads += [
            threading.Thread(target=self._guard(self._decoder), name="nvjpeg", daemon=True),
            threading.Thread(target=self._assembler, name="assemble", daemon=True),
        ]

    def batches(self) -> Iterator[PreparedBatch]:
        """The batches in order, built by the threads a window ahead; they stop when this
        generator is closed."""
        self.start()
        try:
            while True:
                got = self.out.get()
                if got is _DONE:
                    return
                if isinstance(got, BaseException):
                    raise got
                yield got  # type: ignore[misc]
        finally:
            self.close()

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
                    if self.decoding and len(self.queued) > pipe.chunk:
                        i, stolen = self._steal()
                        break
                    if self.next_read >= len(self.items) and not self.queued:
                        return
                    self.cond.wait()
            if stolen is not None:
                self.inbox.put((i, pipe.pillow(stolen, "nvJPEG busy")))
                continue
            r, refusal = pipe.load(self.items[i])
            if refusal is not None:
                self.inbox.put((i, pipe.pillow(r, refusal)))
            gain = pillow_over_nvjpeg(r.header, pipe.pre) if refusal is None else 0.0
            with self.cond:
                self.loading -= 1
                if refusal is None:
                    self.queued.append((i, r, gain))
                self.cond.notify_all()

    def _steal(self) -> tuple[int, FileRead]:
        """Of the JPEGs nvJPEG would take last (its next call's worth), the one Pillow gains most
        on: the lowest ratio of its work to nvJPEG's, worked out once per file when it was
        queued (`core.decode.routing`)."""
        tail = range(max(0, len(self.queued) - self.pipe.chunk), len(self.queued))
        k = min(tail, key=lambda j: self.queued[j][2])
        i, r, _ = self.queued.pop(k)
        return i, r

    def _decoder(self) -> None:
        pipe = self.pipe
        while True:
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
            self.inbox.put((take, pipe.decode([r for _, r in take])))
            with self.cond:
                self.decoding = False

    def _take(self) -> list[tuple[int, FileRead]]:
        """The oldest queued JPEGs, up to a chunk's files and megapixels."""
        n, mp = 0, 0.0
        while n < min(self.pipe.chunk, len(self.queued)) and mp < NVJPEG_CHUNK_MEGAPIXELS:
            mp += self.queued[n][1].header.megapixels  # type: ignore[union-attr]
            n += 1
        take, self.queued[:n] = self.queued[:n], []
        return [(i, r) for i, r, _ in take]

    def _assembler(self) -> None:
        pipe, size, total = self.pipe, self.size, len(self.items)
        pending: dict[int, BatchAssembly] = {}
        done = 0
        try:
            with torch.cuda.stream(pipe.stream):
                while done * size < total:
                    msg = self.inbox.get()
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
                    while done in pending and pending[done].missing == 0:
                        batch = pending.pop(done).finish()
                        self.out.put(batch)
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
