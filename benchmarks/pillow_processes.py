"""`python -m benchmarks.pillow_processes`: Pillow decoding on threads against worker processes.

The GPU path hands Pillow the photos it decodes best (`core.decode.routing`); this measures
why those run in processes (`core.decode.pillow_processes`): the same full-size folder
(`benchmarks.gpu_fullsize.fullsize_folder`) decoded and preprocessed by `PillowDecoder` on N
threads and by `PillowProcesses` with N workers, rounds interleaved, in images/s, and whether
both give identical rows. No GPU needed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pillow_processes", description=__doc__)
    p.add_argument("--images", type=int, default=400)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS / "pillow_processes.json")
    args = p.parse_args(argv)

    import torch

    from benchmarks.gpu_fullsize import fullsize_folder, log
    from benchmarks.timing import interleaved, machine
    from core import PillowDecoder, PillowProcesses, Preprocess, apply_image_settings

    apply_image_settings()
    folder, info = fullsize_folder(args.images)
    files = sorted(f for f in folder.iterdir() if f.suffix == ".jpg")
    pre = Preprocess()
    threads = PillowDecoder(workers=args.workers)
    procs = PillowProcesses(args.workers, pre, threads.draft_oversample)
    procs.ready.wait(120)
    cpu = torch.device("cpu")

    def on_threads() -> list[Any]:
        out = []
        for batch in threads.batches(files, pre, cpu, 64, lambda: False):
            out += [batch.tensor[r] if r is not None else None for r in batch.rows]
        return out

    def in_processes() -> list[Any]:
        out: list[Any] = [None] * len(files)
        cond = threading.Condition()
        left = [len(files)]

        def done(i: int, prepared: Any) -> None:
            with cond:
                out[i] = prepared.tensor if prepared is not None else None
                left[0] -= 1
                cond.notify_all()

        for i, f in enumerate(files):
            with cond:
                while not procs.submit(f, lambda prep, _s, i=i: done(i, prep)):
                    cond.wait()
        with cond:
            while left[0]:
                cond.wait()
        return out

    log(f"{len(files)} files, {args.workers} threads against {args.workers} processes")
    a, b = on_threads(), in_processes()
    same = sum(
        x is not None and y is not None and torch.equal(x, y) for x, y in zip(a, b, strict=True)
    )
    t = interleaved({"threads": on_threads, "processes": in_processes}, args.rounds, 0)
    procs.close()
    res: dict[str, Any] = {
        "command": "python -m benchmarks.pillow_processes " + " ".join(argv or sys.argv[1:]),
        "machine": machine(),
        "folder": info,
        "files": len(files),
        "workers": args.workers,
        "identical_rows": {"same": same, "of": len(files)},
    }
    for name, seconds in t.items():
        s = statistics.median(seconds)
        res[name] = {"seconds": round(s, 2), "images_per_s": round(len(files) / s, 1)}
    res["processes_over_threads"] = round(
        res["processes"]["images_per_s"] / res["threads"]["images_per_s"], 2
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(
        f"{len(files)} full-size JPEGs, {args.workers} workers: threads "
        f"{res['threads']['images_per_s']:.0f} images/s, processes "
        f"{res['processes']['images_per_s']:.0f} images/s "
        f"({res['processes_over_threads']:.2f}x); identical rows {same}/{len(files)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
