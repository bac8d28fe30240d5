"""`resnet-classify` start-up on a folder of photos, against the floor of importing torch (and
starting CUDA, on a CUDA device), each in a fresh process:

    python -m benchmarks.cli_startup [--rounds 5] [--device auto] [--images 20]
                                     [--folder DIR] [--weights FILE] [--against CHECKOUT]

- floor: `import torch` (plus a first CUDA tensor, synchronised, when the device is CUDA);
- CLI first record: from spawning `python -m core --format json FOLDER...` to its first line;
- CLI all: to its end (every record written and the process gone), as a shell sees it.

With `--against CHECKOUT` (e.g. a `git worktree` of an older commit) that checkout's CLI runs
too, in the same rounds, the order alternating, and the two runs' records are compared byte for
byte. Without `--folder` the first `--images` photos of the benchmark folder (`benchmarks.data`)
are used, without `--weights` the benchmark checkpoint; `benchmarks.gpu_fullsize` runs it on
full-size photos.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLOOR = (
    "import torch\nif {cuda}:\n    torch.zeros(1, device={device!r}); torch.cuda.synchronize()\n"
)


def uses_cuda(device: str) -> bool:
    """Whether `device` puts the CLI on a GPU here (so the floor starts CUDA too)."""
    if device == "cpu":
        return False
    probe = "import torch; print(torch.cuda.is_available())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return out.stdout.strip() == "True"


def floor_seconds(device: str, cuda: bool) -> float:
    """A fresh process that imports torch (and makes a first CUDA tensor), timed to its end."""
    code = FLOOR.format(cuda=cuda, device="cuda" if device == "auto" else device)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return time.perf_counter() - start


def cli_run(checkout: Path, args: list[str]) -> tuple[float, float, float, str]:
    """`python -m core ARGS` of `checkout`: seconds to its first record, to its end, the CPU
    seconds it used, and its records."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=checkout,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    first_s = time.perf_counter() - start
    rest = proc.stdout.read()
    cpu = float("nan")
    if hasattr(os, "wait4"):  # the CPU time it used: unlike the wall time, steady on a busy machine
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
    proc.wait()
    return first_s, time.perf_counter() - start, cpu, first + rest


def measure(
    weights: Path,
    files: list[Path],
    rounds: int,
    device: str = "auto",
    against: Path | None = None,
) -> dict[str, Any]:
    """Medians (and every round) of the floor and of the CLI's first record and end, for this
    checkout and, if given, `against`; whether their records are the same bytes."""
    cuda = uses_cuda(device)
    args = ["--weights", str(weights), "--format", "json", "--device", device]
    args += [str(p) for p in files]
    floor_name = "import torch + CUDA init" if cuda else "import torch"
    checkouts = {"this": ROOT} | ({"against": against.resolve()} if against else {})
    seconds: dict[str, list[float]] = {floor_name: []}
    records: dict[str, set[str]] = {name: set() for name in checkouts}
    for r in range(rounds):
        seconds[floor_name].append(floor_seconds(device, cuda))
        order = list(checkouts) if r % 2 == 0 else list(reversed(checkouts))
        for name in order:
            first, end, cpu, out = cli_run(checkouts[name], args)
            seconds.setdefault(f"{name}: CLI first record", []).append(first)
            seconds.setdefault(f"{name}: CLI all {len(files)}", []).append(end)
            seconds.setdefault(f"{name}: CLI CPU time", []).append(cpu)
            records[name].add(out)
    res: dict[str, Any] = {
        "device": "cuda" if cuda else "cpu",
        "files": len(files),
        "rounds": rounds,
        "checkouts": {k: str(v) for k, v in checkouts.items()},
        "median_s": {k: round(statistics.median(v), 3) for k, v in seconds.items()},
        "rounds_s": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
        "records_lines": {k: [o.count("\n") for o in v] for k, v in records.items()},
    }
    floor = res["median_s"][floor_name]
    res["above_floor_s"] = {
        k: round(v - floor, 3)
        for k, v in res["median_s"].items()
        if k != floor_name and not k.endswith("CPU time")
    }
    if against is not None:
        m = res["median_s"]
        res["ratio_this_to_against"] = {
            what: round(m[f"this: {what}"] / m[f"against: {what}"], 3)
            for what in ("CLI first record", f"CLI all {len(files)}", "CLI CPU time")
        }
        res["records_identical"] = len(records["this"] | records["against"]) == 1
    return res


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"Start-up on {res['device']}, {res['files']} photos, {res['rounds']} rounds "
        "(fresh processes, median s; above the floor in brackets):",
        "",
    ]
    for k, v in res["median_s"].items():
        above = res["above_floor_s"].get(k)
        lines.append(f"- {k}: {v:.2f}" + (f" (+{above:.2f})" if above is not None else ""))
    if "ratio_this_to_against" in res:
        ratios = ", ".join(f"{k} {v:.2f}" for k, v in res["ratio_this_to_against"].items())
        lines.append(f"- this / against: {ratios}; records identical: {res['records_identical']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cli_startup", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default="auto", help="the CLI's --device (default: auto)")
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--folder", type=Path, help="photos to classify (default: generated)")
    p.add_argument("--weights", type=Path, help="checkpoint (default: the benchmark one)")
    p.add_argument("--against", type=Path, metavar="CHECKOUT", help="another checkout's CLI")
    p.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = p.parse_args(argv)
    from benchmarks.data import make_inputs
    from benchmarks.photo_folders import folder_files

    inp = make_inputs() if args.folder is None or args.weights is None else None
    files = folder_files(args.folder) if args.folder is not None else inp.folder_files()
    weights = args.weights or inp.checkpoint
    res = measure(weights, files[: args.images], args.rounds, args.device, args.against)
    res["command"] = "python -m benchmarks.cli_startup " + " ".join(argv or sys.argv[1:])
    if args.out is not None:
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
