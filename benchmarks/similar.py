"""Duplicate search on N feature vectors: exact (numpy) against faiss's IVF index, side by side.

    python -m benchmarks.similar [--sizes 2000,5000,10000,20000,100000] [--exact-sample 4000]

The vectors imitate pooled ResNet50 features (2048 non-negative values) of photos of 200
kinds: a quarter of them are "originals", the rest near-copies (each an original plus noise). For each size: the time
to find every vector's 8 nearest and group the duplicates, exactly and with IVF, and how many
of the exact neighbours IVF found (recall). Over `--exact-sample` vectors the exact search is
timed on that many queries and scaled to all N (written as such). Public API only:
`core.library.similar`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from core import duplicate_groups, faiss_available, neighbours, normalised

K = 8


def vectors(n: int, seed: int = 0) -> np.ndarray:
    """Photos of 200 kinds: each original is its kind's centre plus its own variation (after a
    ReLU, as pooled features are); each copy is an original plus a little noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, 2048)).astype(np.float32)
    kinds = rng.integers(0, len(centres), size=max(1, n // 4))
    own = rng.normal(size=(len(kinds), 2048)).astype(np.float32)
    originals = np.maximum(centres[kinds] + 0.8 * own, 0)
    pick = rng.integers(0, len(originals), size=n - len(originals))
    noise = rng.normal(size=(len(pick), 2048)).astype(np.float32)
    copies = np.maximum(originals[pick] + 0.1 * noise, 0)
    return np.concatenate([originals, copies])


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def run(n: int, exact_sample: int) -> dict[str, object]:
    x = vectors(n)
    paths = [f"p{i}" for i in range(n)]
    row: dict[str, object] = {"n": n}
    if n <= exact_sample:
        (_, exact_idx), secs = timed(lambda: neighbours(x, K, "exact"))
        row["exact_s"] = round(secs, 2)
        _, secs = timed(lambda: duplicate_groups(paths, x, 0.9, K, "exact"))
        row["exact_groups_s"] = round(secs, 2)
    else:  # time the exact search on a sample of queries, scaled to N
        xn = normalised(x)

        def sample() -> None:  # in blocks of 1,000 queries, as the exact search runs
            for start in range(0, exact_sample, 1000):
                block = xn[start : min(start + 1000, exact_sample)] @ xn.T
                np.argpartition(-block, K, axis=1)[:, : K + 1]

        _, secs = timed(sample)
        row["exact_s_scaled"] = round(secs * n / exact_sample, 1)
        row["exact_sample"] = exact_sample
        exact_idx = None
    if faiss_available():
        (_, ivf_idx), secs = timed(lambda: neighbours(x, K, "ivf"))
        row["ivf_s"] = round(secs, 2)
        if exact_idx is not None:
            found = sum(len(set(a) & set(b)) for a, b in zip(exact_idx, ivf_idx, strict=True))
            row["ivf_recall"] = round(found / exact_idx.size, 4)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.similar", description=__doc__)
    p.add_argument("--sizes", default="2000,5000,10000,20000,100000")
    p.add_argument("--exact-sample", type=int, default=10000)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "similar.json")
    args = p.parse_args(argv)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        row = run(n, args.exact_sample)
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    args.out.write_text(json.dumps({"k": K, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
