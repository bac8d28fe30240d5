"""`python -m benchmarks.training`: what teaching costs against classifying the same images once.

In one process, on one device: classify N images with the engine (`Classifier.classify_many`,
model loaded and warm), then teach a model on the same N images as class folders
(`core.teach.training.train`, from loading the backbone to the last epoch), as it is by default and
with one augmented view per image (and, with --fine-tune, also training layer4). The variants take turns each round, so a
load that comes and goes on a shared machine falls on all of them alike. Reports seconds and the
ratio teach / classify.

Needs only numpy, Pillow and torch: the images are generated (three kinds of texture, one per
class, 800x600 JPEGs with grain) and the backbone is a random-weights ResNet50 made here, so
this runs on a machine without scikit-image or network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS = Path(__file__).parent / "results"


def make_folders(root: Path, classes: int, per_class: int, seed: int = 0) -> Path:
    """`root/data/class_K/NNN.jpg`: stripes, blobs and gradients of random colours."""
    rng = np.random.default_rng(seed)
    h, w = 600, 800
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    data = root / "data"
    for k in range(classes):
        folder = data / f"class_{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            colour = rng.uniform(40, 215, size=3).astype(np.float32)
            kind = k % 3
            if kind == 0:  # stripes at a random angle and period
                angle, period = rng.uniform(0, np.pi), rng.uniform(12, 60)
                wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
            elif kind == 1:  # soft blobs
                wave = np.zeros((h, w), np.float32)
                for _ in range(8):
                    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(30, 120)
                    wave += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
                wave = wave / max(float(wave.max()), 1e-6) * 2 - 1
            else:  # a gradient
                angle = rng.uniform(0, 2 * np.pi)
                wave = (xx * np.cos(angle) + yy * np.sin(angle)) / max(h, w)
            wave = wave + (k // 3) * 0.3
            pixels = colour[None, None, :] + 60 * wave[..., None]
            pixels = pixels + rng.normal(0, 8, size=pixels.shape)  # sensor-like grain
            img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            img.save(folder / f"{i:03d}.jpg", quality=90)
    return data


def make_backbone(root: Path) -> Path:
    import torch
    import torchvision

    torch.manual_seed(0)
    path = root / "backbone.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.training", description=__doc__)
    p.add_argument("--classes", type=int, default=3)
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--device", default="cpu", help="cpu, cuda (default: cpu)")
    p.add_argument("--rounds", type=int, default=1, help="timed rounds of every variant")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--fine-tune", action="store_true", help="also time --fine-tune")
    p.add_argument("--out", type=Path, help="JSON file (default: results/training_DEVICE.json)")
    args = p.parse_args(argv)

    import torch

    from benchmarks.timing import load_average, log, machine
    from core import (
        FEATURE_BATCH_CPU,
        FEATURE_BATCH_CUDA,
        Classifier,
        TrainingOptions,
        load_checkpoint,
        train,
    )

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    machine_info = machine()  # its load average is the one at the start
    tmp = Path(tempfile.mkdtemp(prefix="bench-training-"))
    data = make_folders(tmp, args.classes, args.per_class)
    paths = sorted(data.rglob("*.jpg"))
    backbone = make_backbone(tmp)
    log(f"{len(paths)} images in {args.classes} classes, backbone {backbone}")

    classifier = Classifier(load_checkpoint(backbone), args.device)
    device = classifier.device
    batch = FEATURE_BATCH_CUDA if device.type == "cuda" else FEATURE_BATCH_CPU
    classifier.warm_up()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def classify() -> dict[str, float]:
        start = time.perf_counter()
        results = list(classifier.classify_many(paths, top_k=5, batch_size=batch))
        sync()
        assert all(r.ok for r in results)
        return {"seconds": time.perf_counter() - start}

    def teach(**kw: object) -> dict[str, float]:
        opts = TrainingOptions(device=args.device, epochs=args.epochs, **kw)  # type: ignore[arg-type]
        start = time.perf_counter()
        r = train(data, opts, backbone=backbone)
        sync()
        return {
            "seconds": time.perf_counter() - start,
            "loading": r.seconds_loading,
            "features": r.seconds_features,
            "training": r.seconds_training,
            "epochs": len(r.history),
            "val_accuracy": r.val_accuracy,
        }

    variants = {
        "classify once (engine)": classify,
        "teach (default)": lambda: teach(),
        "teach --augment 1": lambda: teach(augment_passes=1),
    }
    if args.fine_tune:
        variants["teach --fine-tune"] = lambda: teach(fine_tune=True)

    log("warm-up: one classify pass")
    classify()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, fn in variants.items():
            log(f"round {r + 1}: {name}")
            runs[name].append(fn())
            log(f"  {runs[name][-1]['seconds']:.1f} s")

    base = statistics.median(x["seconds"] for x in runs["classify once (engine)"])
    table = {}
    for name, xs in runs.items():
        row = {k: round(statistics.median(x[k] for x in xs), 3) for k in xs[0]}
        row["ratio_to_classify"] = round(row["seconds"] / base, 2)
        table[name] = row
    res = {
        "started": started,
        "command": "python -m benchmarks.training " + " ".join(argv or sys.argv[1:]),
        "machine": {**machine_info, "load_average_at_end": load_average()},
        "device": str(device),
        "images": len(paths),
        "classes": args.classes,
        "feature_batch": batch,
        "rounds": args.rounds,
        "results": table,
    }
    out = args.out or RESULTS / f"training_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))
    log(f"wrote {out}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def markdown(res: dict) -> str:
    lines = [
        f"Teaching {res['classes']} classes x {res['images'] // res['classes']} images against "
        f"classifying the same {res['images']} images once, on {res['device']} "
        f"({res['machine'].get('gpu') or res['machine']['cpu']}), median of {res['rounds']} "
        "round(s):",
        "",
        "| | seconds | x classify | backbone load | features | training (epochs) | val acc |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in res["results"].items():
        if "features" in r:
            extra = (
                f"{r['loading']:.1f} | {r['features']:.1f} | {r['training']:.1f} "
                f"({r['epochs']:.0f}) | {r['val_accuracy'] * 100:.0f}%"
            )
        else:
            extra = " |  |  | "
        lines.append(f"| {name} | {r['seconds']:.1f} | {r['ratio_to_classify']:.2f} | {extra} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
