"""What one image costs to decode: peak resident memory over the process's own, per file.

    python -m benchmarks.decode_memory /tmp/bombs [--code OTHER_CHECKOUT]

Each file is read in a fresh process, as the engine reads it (`read_image` at the model's
resize, then the resize and crop), and the process's peak RSS (ru_maxrss, which sees the
decoders' C buffers that tracemalloc misses) is compared with its peak before the decode.
Prints one row per file: format, mode, pixels, what the engine estimated from the header
(`decode_cost_of`, if the checkout has it), the measured peak increase and the bytes per pixel. `--code` runs another
checkout's `core/` (e.g. the code before a change) for a side-by-side table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys
from PIL import Image
import core
from core import ImageReadError, Preprocess, read_image

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

path = sys.argv[1]
fmt, mode, size = None, None, (0, 0)
try:
    with Image.open(path) as img:  # the header only
        fmt, mode, size = img.format, img.mode, img.size
except Exception as exc:
    mode = type(exc).__name__
cost_of = getattr(core, "decode_cost_of", None)  # the checkout's estimate, with any draft
estimate = cost_of(path, 256) if cost_of is not None else None
before = peak()
error = None
try:
    Preprocess().resize_crop(read_image(path, 256))
except ImageReadError as exc:
    error = exc.message
print(json.dumps({"format": fmt, "mode": mode, "size": size, "estimate": estimate,
                  "peak_increase": peak() - before, "error": error}))
"""


def measure(path: Path, code: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        cwd=code,
        env=dict(os.environ, PYTHONPATH=str(code)),
    )
    if done.returncode != 0:
        return {"file": path.name, "failed": done.stderr.strip().splitlines()[-1:]}
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["file"] = path.name
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.decode_memory", description=__doc__)
    p.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    p.add_argument("--code", type=Path, default=ROOT, help="the checkout whose core/ to run")
    args = p.parse_args(argv)
    files = [f for p in args.paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])]
    print("| file | format, mode | pixels | estimate | peak increase | bytes/pixel | result |")
    print("|---|---|---|---|---|---|---|")
    for path in files:
        r = measure(path, args.code)
        if "failed" in r:
            print(f"| {r['file']} | | | | | | child failed: {r['failed']} |", flush=True)
            continue
        w, h = r["size"]  # type: ignore[misc]
        pixels = w * h
        mb = r["peak_increase"] / 2**20  # type: ignore[operator]
        est = "" if r["estimate"] is None else f"{r['estimate'] / 2**20:.0f} MB"  # type: ignore[operator]
        per_pixel = r["peak_increase"] / pixels if pixels else 0  # type: ignore[operator]
        result = r["error"] or "classified"
        print(
            f"| {r['file']} | {r['format']}, {r['mode']} | {pixels / 1e6:.1f} Mpx | {est} "
            f"| {mb:.0f} MB | {per_pixel:.1f} | {result} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
