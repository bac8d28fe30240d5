"""What writing keywords and sorting add to a folder run on the CPU, as ratios side by side.

    python -m benchmarks.library_overhead [--count 40] [--rounds 3]

Three variants take turns each round on the same photos (the benchmark folder of
`benchmarks.data`: JPEG, PNG and WebP from 0.05 to 12 MP): classifying the folder; classifying
and writing each photo's top-5 as keywords into its sidecar as its result comes (as
`--write-keywords` does); classifying, then copying every photo into class folders with the
journal, fsync and verification (as `--sort-into` does; a move within one file system is a
rename, cheaper than this). Public API only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.data import make_inputs
from core import (
    Classifier,
    execute,
    keywords_for,
    load_checkpoint,
    plan_sort,
    sidecar_path,
    write_one,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.library_overhead", description=__doc__)
    p.add_argument("--count", type=int, default=40, help="photos of the folder (default: 40)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "library_overhead.json"
    )
    args = p.parse_args(argv)
    inputs = make_inputs(lambda m: print(m, file=sys.stderr))
    work = Path(tempfile.mkdtemp(prefix="library-overhead-"))
    photos = sorted(inputs.folder.iterdir())[: args.count]
    paths = []
    for src in photos:
        shutil.copy(src, work / src.name)
        paths.append(str(work / src.name))
    classifier = Classifier(load_checkpoint(inputs.checkpoint), "cpu")

    def plain() -> None:
        list(classifier.classify_many(paths, top_k=5))

    extra: dict[str, list[float]] = {"keywords": [], "sort_copy": []}

    def keywords() -> None:
        spent = 0.0
        for result in classifier.classify_many(paths, top_k=5):
            start = time.perf_counter()
            write_one(result.path, keywords_for(result, 0.0), "sidecar")
            spent += time.perf_counter() - start
        extra["keywords"].append(spent)

    def sort() -> None:
        results = list(classifier.classify_many(paths, top_k=5))
        start = time.perf_counter()
        execute(plan_sort(results, work / "sorted", 0.0, "copy"))
        extra["sort_copy"].append(time.perf_counter() - start)

    def reset() -> None:  # outside the timing: every round starts from the same folder
        for path in paths:
            sidecar_path(path).unlink(missing_ok=True)
        shutil.rmtree(work / "sorted", ignore_errors=True)

    variants = {"plain": plain, "keywords": keywords, "sort_copy": sort}
    reset()
    plain()  # warm-up: the first run pays for oneDNN's set-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, fn in variants.items():
            reset()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        print(f"round {r + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()),
              file=sys.stderr)  # fmt: skip
    reset()
    shutil.rmtree(work, ignore_errors=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    # The part the option adds, over the classifying part of the same call: both measured
    # under the same load, which the totals of separate calls on a shared machine are not.
    share = {
        name: round(statistics.median(e / (t - e) for e, t in zip(extra[name], times[name],
                                                                    strict=True)), 4)
        for name in extra
    }  # fmt: skip
    report = {
        "photos": len(paths),
        "rounds": args.rounds,
        "added_over_classifying_same_call": share,
        "added_seconds": {n: [round(v, 3) for v in e] for n, e in extra.items()},
        "median_s": {n: round(v, 3) for n, v in med.items()},
        "ratio_to_plain": {n: round(v / med["plain"], 3) for n, v in med.items()},
        "seconds": {n: [round(v, 3) for v in t] for n, t in times.items()},
    }
    print(json.dumps(report, indent=1))
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
