"""How far may `draft` shrink a large JPEG? Top-1 and probabilities against the naive loop.

    python -m benchmarks.draft_agreement [--out DIR]

For every folder JPEG above 1024 px and the 24 MP JPEG: the engine's result with the draft
decoding keeping 4x, 2x (the engine's setting) and 1x the 256-px resize target, against the
naive loop on the fully decoded image, and the 24 MP JPEG's latency for each.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.data import make_inputs
from benchmarks.pipelines import NaiveLoop, plain_model
from core import Classifier, PillowDecoder, load_checkpoint

# Up to this size (longest side) JPEGs are decoded in full whatever the oversampling
# (`core.decode.images.DRAFT_MIN_SIDE`).
DRAFT_MIN_SIDE = 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.draft_agreement")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args(argv)
    inp = make_inputs()
    files = [
        f
        for f in inp.folder_files()
        if f.suffix == ".jpg" and max(Image.open(f).size) > DRAFT_MIN_SIDE
    ] + [inp.large]
    naive = NaiveLoop(plain_model(inp.checkpoint))
    ref = {f: naive(f, 1000) for f in files}
    out: dict[str, object] = {"images": len(files), "by_oversample": {}}
    for oversample in (4, 2, 1):
        clf = Classifier(
            load_checkpoint(inp.checkpoint),
            "cpu",
            decoder=PillowDecoder(draft_oversample=oversample),
        )
        same1 = same5 = 0
        diffs = []
        for f in files:
            r = clf.classify(f, top_k=1000)
            rmap = dict(zip(*ref[f], strict=True))
            diffs.append(max(abs(rmap[q.index] - q.probability) for q in r.predictions))
            same1 += r.top.index == ref[f][0][0]
            same5 += [q.index for q in r.predictions[:5]] == ref[f][0][:5]
        times = []
        for _ in range(7):
            start = time.perf_counter()
            clf.classify(inp.large)
            times.append(time.perf_counter() - start)
        out["by_oversample"][f"{oversample}x"] = {  # type: ignore[index]
            "same_top1": same1,
            "same_top5_in_order": same5,
            "prob_diff_median": float(np.median(diffs)),
            "prob_diff_max": float(max(diffs)),
            "latency_24mp_ms": round(float(np.median(times)) * 1000, 1),
        }
    print(json.dumps(out, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "draft_agreement.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
