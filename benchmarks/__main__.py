"""`python -m benchmarks [--quick] [--only SECTION,...]`: the CPU suite (see README)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

SECTIONS = ("latency", "folder", "levers", "startup", "memory")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer rounds (about a minute less)")
    p.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}"
    )
    p.add_argument(
        "--startup-rounds",
        type=int,
        help="fresh launches of each start-up program (default: 5, 3 with --quick)",
    )
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--stem", default="cpu", help="file name stem of the results (default: cpu)")
    p.add_argument(
        "--threads",
        type=int,
        help="torch threads for every pipeline, here and in the programs it starts "
        "(default: torch's own choice, one per core)",
    )
    args = p.parse_args(argv)
    if args.threads:
        import os

        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by fresh processes
        import torch

        torch.set_num_threads(args.threads)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")

    from benchmarks import cpu
    from benchmarks.data import make_inputs
    from benchmarks.report import write
    from benchmarks.timing import load_average, log, machine

    q = args.quick
    start = time.perf_counter()
    res: dict[str, object] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    inp = make_inputs(log)
    res["inputs"] = inp.describe()
    if "latency" in only:
        res["latency"] = cpu.latency(inp, 7 if q else 15, log)
    if "folder" in only:
        res["folder"] = cpu.folder(inp, 1 if q else 2, log)
    if "levers" in only:
        res["levers"] = {
            "draft": cpu.lever_draft(inp, 3 if q else 5, log),
            "resize": cpu.lever_resize(inp, 3 if q else 7, log),
            "model": cpu.lever_model(inp, 5 if q else 9, log),
            "folder": cpu.lever_folder(inp, 1 if q else 2, log),
            "weights": cpu.lever_weights(inp, 5, log),
        }
    if "startup" in only:
        res["startup"] = cpu.startup(inp, args.startup_rounds or (3 if q else 5), log)
    if "memory" in only:
        res["memory"] = cpu.memory(inp, log)
    res["machine"]["load_average_at_end"] = load_average()  # type: ignore[index]
    res["seconds"] = round(time.perf_counter() - start, 1)
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    for path in write(res, args.out, args.stem, command.strip()):
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
