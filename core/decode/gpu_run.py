"""A folder's threads on the GPU path: readers, one nvJPEG caller and an assembler, a window
ahead of the network (the scheme: `core.decode.gpu_pipeline`).

`PipelineRun(pipe, sources).batches()` yields `PreparedBatch`es in order; the consumer makes its
stream wait on each one's `ready` event (`PreparedBatch.input`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from core.decode.batch import Prepared, PreparedBatch
from core.decode.gpu_decode import BatchAssembly, FileRead
from core.decode.gpu_pipeline import NVJPEG_CHUNK_MEGAPIXELS, GpuJpegPipeline
from core.decode.pillow_processes import PillowProcesses
from core.decode.routing import NVJPEG, PILLOW, Router, Ticket, decode_bytes

_DONE = object()

# Pillow's worker processes take back one of the last this many JPEGs queued for nvJPEG.
TAKE_BACK_SCAN = 64


@dataclass
class Queued:
    """A JPEG waiting for nvJPEG, with how much Pillow would gain on it (`Router`)."""

    index: int
    read: FileRead
    ticket: Ticket
    gain: float


class PipelineRun:
    """The threads of one folder's run and the state they share under one condition.

    With `processes`, the Pillow share of the folder is decoded in worker processes; without,
    on the reader threads themselves. Either way `pipe.router` sends each JPEG to whichever of
    nvJPEG and Pillow would finish it first (`core.decode.routing`).
    """

    def __init__(
        self, pipe: GpuJpegPipeline, items: list[object], processes: PillowProcesses | None = None
    ) -> None:
        self.pipe, self.items, self.stop = pipe, items, threading.Event()
        self.processes = processes
        lanes = processes.workers if processes is not None else pipe.readers
        self.router = Router(pipe.pre, lanes)
        self.size = pipe.batch_size
        self.window = pipe.batch_size * (pipe.depth + 1)
        self.cond = threading.Condition()
        self.next_read = 0  # the next item a reader loads
        self.loading = 0  # items being loaded now
        self.front = 0  # the first item of the oldest batch not yet handed over
        self.queued: list[Queued] = []  # loaded, waiting for nvJPEG
        self.nvjpeg_work = 0.0  # the work of what is queued
        self.decoding = False
        self.in_processes = 0  # items the worker processes have now
        self.redo: list[tuple[int, FileRead]] = []  # items whose worker process died
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
        if self.processes is not None:
            self.processes.cancel_pending()
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

    def _help(self) -> int | None:
        """The queued JPEG Pillow should take back from nvJPEG now, if any: of the last ones
        queued, the one Pillow gains most on. In worker processes: whenever a slot is free and
        Pillow would finish it before nvJPEG reaches it. On this process's threads: only while
        nvJPEG is busy and more is queued than its next call takes."""
        queued, procs = self.queued, self.processes
        if not queued:
            return None
        if procs is not None and not procs.broken:
            if not procs.has_free_slot():
                return None
            lo = max(0, len(queued) - TAKE_BACK_SCAN)
        else:
            if not (self.decoding and len(queued) > self.pipe.chunk):
                return None
            lo = len(queued) - self.pipe.chunk
        k = min(range(lo, len(queued)), key=lambda j: queued[j].gain)
        if procs is None or procs.broken:
            return k
        if queued[k].gain == float("inf"):
            return None
        behind = sum(q.ticket.work for q in queued[k:])
        header = queued[k].read.header
        assert header is not None
        return k if self.router.pillow_first(header, self.nvjpeg_work - behind) else None

    # -- readers --
    def _reader(self) -> None:
        while True:
            with self.cond:
                while True:
                    if self.stop.is_set():
                        return
                    if self.redo:
                        i, r = self.redo.pop()
                        job = "redo"
                        break
                    if self._can_read():
                        i, job = self.next_read, "read"
                        self.next_read += 1
                        self.loading += 1
                        break
                    k = self._help()
                    if k is not None:
                        q = self.queued.pop(k)
                        self.nvjpeg_work -= q.ticket.work
                        i, r, job = q.index, q.read, "help"
                        ticket = self.router.move(q.ticket, r.header)
                        break
                    done_reading = self.next_read >= len(self.items)
                    if done_reading and not self.queued and not self.in_processes:
                        return
                    self.cond.wait()
            if job == "redo":
                self.inbox.put((i, self.pipe.pillow(r, "a worker process stopped")))
            elif job == "help":
                self._to_pillow(i, r, ticket, "nvJPEG busy")
            else:
                self._read(i)

    def _read(self, i: int) -> None:
        """Load item `i`; queue it for nvJPEG, or decode it with Pillow if nvJPEG cannot."""
        r, refusal = self.pipe.load(self.items[i])
        if refusal is not None:
            with self.cond:
                self.loading -= 1
                self.cond.notify_all()
            self._to_pillow(i, r, self.router.ticket(PILLOW, r.header), refusal)
            return
        ticket = self.router.ticket(NVJPEG, r.header)
        fits = self._fits_a_process(r)
        gain = self.router.pillow_over_nvjpeg(r.header) if fits else float("inf")
        with self.cond:
            self.loading -= 1
            self.queued.append(Queued(i, r, ticket, gain))
            self.nvjpeg_work += ticket.work
            self.cond.notify_all()

    def _fits_a_process(self, r: FileRead) -> bool:
        """A file on disk whose decode fits a worker's share of the memory budget."""
        p = self.processes
        if p is None or isinstance(r.source, bytes) or r.header is None:
            return False
        return decode_bytes(r.header, self.pipe.pre) <= p.budget

    def _to_pillow(self, i: int, r: FileRead, ticket: Ticket, why: str) -> None:
        """Item `i` decoded by Pillow: in a worker process if one takes it, else here."""
        r.data = None
        if self._fits_a_process(r):
            with self.cond:
                self.in_processes += 1

            def done(prepared: Prepared | None, seconds: float) -> None:
                self.router.done([ticket], seconds)
                with self.cond:
                    self.in_processes -= 1
                    if prepared is None:  # its worker died: a reader decodes it
                        self.redo.append((i, r))
                    self.cond.notify_all()
                if prepared is not None:
                    r.prepared = prepared
                    self.pipe.count(f"Pillow processes: {why}")
                    self.inbox.put((i, r))

            assert self.processes is not None
            if self.processes.submit(r.source, done):
                return
            with self.cond:
                self.in_processes -= 1
        start = time.perf_counter()
        self.inbox.put((i, self.pipe.pillow(r, why)))
        self.router.done([ticket], time.perf_counter() - start)

    # -- nvJPEG --
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
            start = time.perf_counter()
            decoded = pipe.decode([q.read for q in take])
            self.router.done([q.ticket for q in take], time.perf_counter() - start)
            self.inbox.put(([(q.index, q.read) for q in take], decoded))
            with self.cond:
                self.decoding = False
                self.cond.notify_all()

    def _take(self) -> list[Queued]:
        """The oldest queued JPEGs, up to a chunk's files and megapixels."""
        n, mp = 0, 0.0
        while n < min(self.pipe.chunk, len(self.queued)) and mp < NVJPEG_CHUNK_MEGAPIXELS:
            mp += self.queued[n].read.header.megapixels  # type: ignore[union-attr]
            n += 1
        take, self.queued[:n] = self.queued[:n], []
        self.nvjpeg_work -= sum(q.ticket.work for q in take)
        return take

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
