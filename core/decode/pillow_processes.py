"""Pillow decoding in worker processes, for the GPU path's share of a folder.

Pillow's decoders let go of Python's lock, but everything around them (opening, EXIF, the
crop, the normalising) holds it: threads of one process that decode photos mostly wait for each
other, so on a 16-core GPU machine 15 threads gave 262 full-size photos a second while the
cores sat idle (`docs/benchmarks.md`). Processes do not share that lock. Each worker runs the
Pillow decoder itself (`PillowDecoder.prepare_one`: the same result, or the same error text, as
the Pillow path) and writes the normalised rows into a slot of shared memory; only the slot's
number and the error cross the pipe. The main process copies the rows out and frees the slot.

Workers start from a fork server that has imported the decoder once (spawn where there is no
fork server), so they start in a fraction of a second and never touch CUDA. Each worker's share
of the decode memory budget is the budget divided among them, so all of them together stay
within it; a file whose decode would need more than one share is left to the main process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np
import torch

from core.decode.batch import Prepared
from core.decode.budget import DECODE_BUDGET_BYTES
from core.decode.files import source_name
from core.decode.preprocess import Preprocess

log = logging.getLogger(__name__)

# Slots of shared memory per worker: one being written, the rest waiting to be copied out.
SLOTS_PER_WORKER = 4


def worker_count() -> int:
    """Processes that leave two cores to the main process (nvJPEG, reading, assembling).

    None in a frozen app: its executable would have to start the fork server itself
    (`multiprocessing.freeze_support`), which has not been tried on a GPU machine yet."""
    if getattr(sys, "frozen", False):
        return 0
    return max(0, (os.cpu_count() or 2) - 2)


class PillowProcesses:
    """`workers` processes decoding with Pillow into shared slots, for rows of `pre`'s size.

    `submit` returns False when every slot is taken (the caller decodes elsewhere); otherwise
    `on_done(prepared, seconds)` is called once, from a thread of this pool, with the same
    `Prepared` the Pillow decoder would have made. Broken workers (a decoder that crashed a
    process) make `broken` true; their files come back with `prepared=None` to be redone.
    """

    def __init__(self, workers: int, pre: Preprocess, draft_oversample: int | None) -> None:
        self.workers = max(1, workers)
        self.pre = pre
        c = pre.crop_size
        self.shape = (3, c, c)
        self.slot_bytes = 3 * c * c * 4
        self.budget = DECODE_BUDGET_BYTES // self.workers
        slots = self.workers * SLOTS_PER_WORKER
        self._shm = SharedMemory(create=True, size=self.slot_bytes * slots)
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for s in range(slots):
            self._free.put(s)
        self._pending: set[Future[tuple[str | None, float]]] = set()
        self._lock = threading.Lock()
        self.broken = False
        self.ready = threading.Event()
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=_context(),
            initializer=_start_worker,
            initargs=(self._shm.name, self.slot_bytes, self.budget, draft_oversample),
        )
        self._finalizer = weakref.finalize(self, _shut_down, self._pool, self._shm)
        # the workers start (the fork server imports the decoder once) while the GPU decodes
        threading.Thread(target=self._start, name="pillow-processes", daemon=True).start()

    def _start(self) -> None:
        try:
            for fut in [self._pool.submit(_started) for _ in range(self.workers)]:
                fut.result()
            self.ready.set()
        except Exception as exc:  # no processes here (a sandbox, a frozen app without them)
            log.warning("Pillow worker processes could not start (%s); threads decode", exc)
            self.broken = True

    def has_free_slot(self) -> bool:
        return self.ready.is_set() and not self.broken and not self._free.empty()

    def submit(self, source: object, on_done: Callable[[Prepared | None, float], None]) -> bool:
        """Decode `source` (a path) in a worker; False when no slot is free, the workers are
        still starting, or they broke."""
        if self.broken or not self.ready.is_set():
            return False
        try:
            slot = self._free.get_nowait()
        except queue.Empty:
            return False
        name = source_name(source)
        try:
            fut = self._pool.submit(_prepare, source, self.pre, slot)
        except RuntimeError:  # broken, or shut down
            self.broken = True
            self._free.put(slot)
            return False
        with self._lock:
            self._pending.add(fut)
        fut.add_done_callback(lambda f: self._finished(f, name, slot, on_done))
        return True

    def _finished(
        self,
        fut: Future[tuple[str | None, float]],
        name: str,
        slot: int,
        on_done: Callable[[Prepared | None, float], None],
    ) -> None:
        with self._lock:
            self._pending.discard(fut)
        if fut.cancelled():
            self._free.put(slot)
            return
        try:
            error, seconds = fut.result()
        except Exception as exc:  # the worker died (BrokenProcessPool): the caller redoes it
            if not self.broken:
                log.warning("a Pillow worker process stopped (%s); decoding goes on here", exc)
            self.broken = True
            self._free.put(slot)
            on_done(None, 0.0)
            return
        tensor = None
        if error is None:
            rows = np.ndarray(self.shape, np.float32, self._shm.buf, slot * self.slot_bytes)
            tensor = torch.from_numpy(rows.copy())
        self._free.put(slot)
        on_done(Prepared(name, tensor, error, seconds), seconds)

    def cancel_pending(self) -> None:
        """Drop the files not started yet (a run was cancelled or closed)."""
        with self._lock:
            pending = list(self._pending)
        for fut in pending:
            fut.cancel()

    def close(self) -> None:
        self._finalizer()


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["core.decode.pillow_processes"])
        return ctx
    return multiprocessing.get_context("spawn")


def _shut_down(pool: ProcessPoolExecutor, shm: SharedMemory) -> None:
    pool.shutdown(wait=True, cancel_futures=True)
    shm.close()
    shm.unlink()


# ---- in the worker process ------------------------------------------------------------------
_worker: dict[str, object] = {}


def _start_worker(shm_name: str, slot_bytes: int, budget: int, draft: int | None) -> None:
    from core.decode.budget import PixelBudget
    from core.decode.pillow import PillowDecoder
    from core.decode.settings import apply_image_settings

    torch.set_num_threads(1)
    apply_image_settings()
    # the workers share the main process's resource tracker: it unlinks the memory once
    shm = SharedMemory(name=shm_name)
    _worker.update(
        shm=shm,
        slot_bytes=slot_bytes,
        decoder=PillowDecoder(pixel_budget=PixelBudget(budget), draft_oversample=draft),
    )


def _started() -> int:
    return os.getpid()


def _prepare(source: str | Path, pre: Preprocess, slot: int) -> tuple[str | None, float]:
    """The Pillow decoder's result for `source`, its rows written into `slot`."""
    from core.decode.pillow import PillowDecoder

    start = time.perf_counter()
    decoder = _worker["decoder"]
    assert isinstance(decoder, PillowDecoder)
    prepared = decoder.prepare_one(source, pre)
    if prepared.tensor is not None:
        shm = _worker["shm"]
        assert isinstance(shm, SharedMemory)
        size = int(_worker["slot_bytes"])  # type: ignore[call-overload]
        out = np.ndarray(tuple(prepared.tensor.shape), np.float32, shm.buf, slot * size)
        out[...] = prepared.tensor.numpy()
    return prepared.error, time.perf_counter() - start
