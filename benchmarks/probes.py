"""Programs the benchmarks start in a fresh process, to measure what a user's launch costs.

    python -m benchmarks.probes floor|floor_gc_paused CHECKPOINT
        the unavoidable part of a first prediction: import torch and torchvision, read the
        weights, build the network, one forward pass (and a second, to show the warm-up cost);
        `floor_gc_paused` imports with the garbage collector paused, as the engine does
    python -m benchmarks.probes first_photo|first_photo_warmed CHECKPOINT PATH
        load the engine (and warm it up, as the window does while idle), then time PATH
    python -m benchmarks.probes naive|fast CHECKPOINT PATH...
        classify PATHs with the naive loop or with the engine; report peak memory

Each prints one JSON line; the parent times the line's arrival.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def _peak_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux ru_maxrss carries
    the parent's peak across fork and exec, so every child would report the parent's."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor(checkpoint: str, gc_paused: bool = False) -> dict[str, float]:
    import contextlib

    from core import collector_paused

    t0 = time.perf_counter()
    with collector_paused() if gc_paused else contextlib.nullcontext():
        import torch

        t1 = time.perf_counter()
        import torchvision

        t2 = time.perf_counter()
    state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    t3 = time.perf_counter()
    with torch.device("meta"):  # no random initialisation: the weights are about to replace it
        model = torchvision.models.resnet50()
    model = model.to_empty(device="cpu")
    model.load_state_dict(state)
    model.eval()
    t4 = time.perf_counter()
    x = torch.zeros(1, 3, 224, 224)
    with torch.inference_mode():
        model(x)
        t5 = time.perf_counter()
        model(x)
        t6 = time.perf_counter()
    return {
        "import_torch_s": t1 - t0,
        "import_torchvision_s": t2 - t1,
        "read_weights_s": t3 - t2,
        "build_s": t4 - t3,
        "first_forward_s": t5 - t4,
        "second_forward_s": t6 - t5,
    }


def naive(checkpoint: str, paths: list[str]) -> dict[str, float]:
    from benchmarks.pipelines import NaiveLoop, plain_model

    loop = NaiveLoop(plain_model(__import__("pathlib").Path(checkpoint)))
    start = time.perf_counter()
    for p in paths:
        loop(p)
    return {"seconds": time.perf_counter() - start}


def fast(checkpoint: str, paths: list[str]) -> dict[str, float]:
    from core import Classifier, load_checkpoint

    clf = Classifier(load_checkpoint(checkpoint), "cpu")
    start = time.perf_counter()
    for r in clf.classify_many(paths):
        assert r.ok, r.error
    return {"seconds": time.perf_counter() - start}


def first_photo(checkpoint: str, path: str, warm: bool) -> dict[str, float]:
    from core import Classifier, load_checkpoint

    clf = Classifier(load_checkpoint(checkpoint), "cpu")
    if warm:
        clf.warm_up()
    t0 = time.perf_counter()
    clf.classify(path)
    t1 = time.perf_counter()
    clf.classify(path)
    t2 = time.perf_counter()
    return {"first_photo_s": t1 - t0, "second_photo_s": t2 - t1}


def main(argv: list[str]) -> int:
    what, checkpoint, *paths = argv
    if what in ("floor", "floor_gc_paused"):
        out = floor(checkpoint, gc_paused=what == "floor_gc_paused")
    elif what in ("first_photo", "first_photo_warmed"):
        out = first_photo(checkpoint, paths[0], warm=what.endswith("warmed"))
    elif what == "naive":
        out = naive(checkpoint, paths)
    elif what == "fast":
        out = fast(checkpoint, paths)
    else:
        raise SystemExit(f"unknown probe {what}")
    out["peak_rss_mib"] = _peak_mib()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
