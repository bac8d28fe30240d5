"""Why a CUDA folder runs below the decoders' ceiling, with the main thread's time split.

    python -m benchmarks.gpu_pipeline [--out DIR]          how a batch is staged for the GPU
    python -m benchmarks.gpu_pipeline --gil [--out DIR]    GIL hand-over knobs

Staging: a pinned buffer kept between batches (the engine), fresh pinned memory per batch,
or plain pageable memory. GIL knobs: decoder threads; Pillow's read block (`decodermaxblock`: 64 KiB by default, so a
3 MB JPEG is fed to the decoder in ~50 pieces, re-taking the GIL each time); Python's GIL
switch interval (5 ms by default: how long a thread that wants the GIL may wait).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import ImageFile

from benchmarks.data import make_inputs
from benchmarks.gpu import Timed, log
from benchmarks.timing import interleaved
from core.model import load_checkpoint


@contextlib.contextmanager
def knobs(maxblock: bool, switch: float | None) -> Iterator[None]:
    saved_block, saved_switch = ImageFile.MAXBLOCK, sys.getswitchinterval()
    if maxblock:
        ImageFile.MAXBLOCK = 1 << 26
    if switch is not None:
        sys.setswitchinterval(switch)
    try:
        yield
    finally:
        ImageFile.MAXBLOCK = saved_block
        sys.setswitchinterval(saved_switch)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_pipeline")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--device", default="cuda")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--gil", action="store_true", help="the GIL knobs instead of the staging buffer")
    args = p.parse_args(argv)
    inp = make_inputs(log)
    files = inp.folder_files()
    clf = Timed(load_checkpoint(inp.checkpoint), args.device, decode="cpu")
    list(clf.classify_many(files))  # warm: cuDNN autotune, page cache
    configs = {}
    if args.gil:
        for workers in (4, 8, 15):
            for name, mb, sw in (
                ("default", False, None),
                ("maxblock", True, None),
                ("switch1ms", False, 0.001),
                ("maxblock_switch1ms", True, 0.001),
            ):
                configs[f"w{workers}_{name}"] = (workers, mb, sw, "engine")
    else:
        for staging in ("engine", "torch_stack_pinned", "fresh_pinned"):
            for workers in (12, 14, 15):
                configs[f"w{workers}_{staging}"] = (workers, False, None, staging)
    splits: dict[str, dict[str, float]] = {}
    engine_stack = Timed._stack

    def fresh_pinned(self: Timed, ts: list[torch.Tensor]) -> torch.Tensor:
        out = torch.empty((len(ts), *ts[0].shape), pin_memory=True)
        return torch.stack(ts, out=out)

    def torch_stack_pinned(self: Timed, ts: list[torch.Tensor]) -> torch.Tensor:
        buf = getattr(self, "_torch_buf", None)
        if buf is None or buf.shape[0] < len(ts):
            buf = self._torch_buf = torch.empty((len(ts), *ts[0].shape), pin_memory=True)
        torch.cuda.current_stream(self.device).synchronize()
        return torch.stack(ts, out=buf[: len(ts)])

    stacks = {
        "engine": engine_stack,
        "torch_stack_pinned": torch_stack_pinned,
        "fresh_pinned": fresh_pinned,
        "pageable": lambda self, ts: torch.stack(ts),
    }

    def make(workers: int, mb: bool, sw: float | None, staging: str, key: str):
        def f() -> None:
            Timed._stack = stacks[staging]  # type: ignore[method-assign]
            with knobs(mb, sw):
                clf.reset()
                start = time.perf_counter()
                list(clf.classify_many(files, workers=workers))
                total = time.perf_counter() - start
            splits[key] = {
                "total_s": round(total, 3),
                "waiting_s": round(total - clf.batch_s, 3),
                "network_s": round(clf.predict_s, 3),
                "python_s": round(clf.batch_s - clf.predict_s, 3),
            }

        return f

    micro: dict[str, float] = {}
    if torch.cuda.is_available():
        batch = [clf.prepare(f) for f in files[:8]]
        for name, stack in stacks.items():
            times = []
            for _ in range(20):
                start = time.perf_counter()
                stack(clf, batch).to(clf.device, non_blocking=True)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            micro[name] = round(float(np.median(times)) * 1000, 2)
        log(f"stack + copy of 8 images, isolated (ms): {micro}")
    log(f"{len(configs)} configurations x {args.rounds}")
    t = interleaved({k: make(*v, k) for k, v in configs.items()}, args.rounds, warmup=0)
    res = {
        "images": len(files),
        "images_per_s": {k: round(len(files) / float(np.median(v)), 1) for k, v in t.items()},
        "main_thread_last_round": splits,
        "stack_and_copy_8_images_isolated_ms": micro,
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    Timed._stack = engine_stack  # type: ignore[method-assign]
    (args.out / f"gpu_pipeline{'_gil' if args.gil else ''}.json").write_text(
        json.dumps(res, indent=1) + "\n"
    )
    for k, v in res["images_per_s"].items():
        print(f"{k:28s} {v:7.1f} img/s  {splits[k]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
