"""`python -m benchmarks.teaching_accuracy`: is teaching at least as accurate as a plain
logistic regression on the same features?

A few small texture sets made from scikit-image's pictures, three classes each (one picture per
class): 20 training crops per class from each picture's left half, 20 test crops from its right
half, so no test pixel was ever seen. On each set, side by side in one process:

- old default: `resnet-train` as it was (head learning rate 1e-2, early stopping on 20% held
  out; the model saved is the one that learned from the other 80%):
  `TrainingOptions(learning_rate=1e-2, refit_on_all=False)`;
- new default: learning rate 1e-3, the epoch chosen the same way, then a fresh head learns from
  every training crop for that many epochs (`TrainingOptions()`);
- baseline: scikit-learn's `LogisticRegression` (standardised features, default C) on the same
  backbone features the engine computes, fitted on the same 80% (held-out accuracy) and on
  all training crops (test accuracy).

Held-out accuracy is measured on the same held-out crops for all three (`stratified_split`
with the same seed); test accuracy on the right-half crops. ImageNet weights cannot be
downloaded here, so the backbone is a random-weights ResNet50 (`--backbone` takes a real one).
Needs scikit-learn and scikit-image (the dev extras).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS = Path(__file__).parent / "results"

# three classes per set, one skimage picture each
SETS = {
    "stone": ("brick", "grass", "gravel"),
    "photos": ("coffee", "astronaut", "rocket"),
    "science": ("hubble_deep_field", "immunohistochemistry", "retina"),
}


def make_set(root: Path, names: tuple[str, ...], per_class: int, seed: int) -> tuple[Path, Path]:
    """`root/train/<name>/NNN.jpg` from each picture's left half, `root/test/...` from its
    right half: square crops of random size (a third to all of the half's short side), 128 px."""
    import skimage.data

    rng = np.random.default_rng(seed)
    for name in names:
        pixels = getattr(skimage.data, name)()
        img = Image.fromarray(pixels).convert("RGB")
        w, h = img.size
        for part, x0 in (("train", 0), ("test", w // 2)):
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            half = w // 2
            for i in range(per_class):
                short = min(half, h)
                side = int(rng.integers(short // 3, short + 1))
                x = x0 + int(rng.integers(0, half - side + 1))
                y = int(rng.integers(0, h - side + 1))
                crop = img.crop((x, y, x + side, y + side)).resize((128, 128), Image.BICUBIC)
                crop.save(folder / f"{i:03d}.jpg", quality=90)
    return root / "train", root / "test"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.teaching_accuracy", description=__doc__)
    p.add_argument("--per-class", type=int, default=20, help="training and test crops per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", type=Path, help="ResNet50 checkpoint (default: random weights)")
    p.add_argument("--out", type=Path, default=RESULTS / "teaching_accuracy.json")
    args = p.parse_args(argv)

    import torch
    import torchvision
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from torch import nn

    from benchmarks.timing import log, machine
    from core import (
        Classifier,
        TrainingOptions,
        load_checkpoint,
        save_checkpoint,
        scan_folder,
        stratified_split,
        train,
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench-teach-acc-"))
    backbone = args.backbone
    if backbone is None:
        torch.manual_seed(0)
        backbone = tmp / "backbone.pth"
        torch.save(torchvision.models.resnet50().state_dict(), backbone)
    features_model = load_checkpoint(backbone)
    features_model.module.fc = nn.Identity()
    extractor = Classifier(features_model, "cpu")

    def features(paths: list[Path]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(paths), 8):
                x = torch.stack([extractor.prepare(p) for p in paths[i : i + 8]])
                x = x.contiguous(memory_format=torch.channels_last)
                out.append(features_model.module(x).float().numpy())
        return np.concatenate(out)

    def test_accuracy(result, test: Path, names: tuple[str, ...]) -> float:
        ckpt = save_checkpoint(result, tmp / "taught.pth")
        clf = Classifier(load_checkpoint(ckpt), "cpu")
        paths = sorted(test.rglob("*.jpg"))
        records = list(clf.classify_many(paths, top_k=1, batch_size=8))
        right = sum(r.predictions[0].label == Path(r.path).parent.name for r in records)
        return right / len(records)

    base = TrainingOptions(device="cpu", seed=args.seed)
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for k, (set_name, names) in enumerate(SETS.items()):
        train_dir, test_dir = make_set(tmp / set_name, names, args.per_class, args.seed + k)
        folders = scan_folder(train_dir)
        log(f"{set_name}: {', '.join(names)}")
        row: dict[str, dict[str, float]] = {}
        for label, opts in (
            ("old default", replace(base, learning_rate=1e-2, refit_on_all=False)),
            ("new default", base),
        ):
            r = train(folders, opts, backbone=backbone)
            row[label] = {
                "held_out": r.val_accuracy,
                "test": test_accuracy(r, test_dir, names),
                "best_epoch": r.best_epoch,
            }
            log(f"  {label}: {row[label]}")
        # the baseline: the same features, the same held-out crops
        train_paths = [p for c in folders.classes for p in c.images]
        y = np.array([i for i, c in enumerate(folders.classes) for _ in c.images])
        x = features(train_paths)
        generator = torch.Generator().manual_seed(args.seed)  # as train() draws its split
        held = stratified_split(torch.tensor(y), len(names), base.val_split, generator).numpy()
        test_paths = sorted(test_dir.rglob("*.jpg"))
        class_of = {c.name: i for i, c in enumerate(folders.classes)}
        test_y = np.array([class_of[p.parent.name] for p in test_paths])
        test_x = features(test_paths)

        def logistic():
            return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))

        on_split = logistic().fit(x[~held], y[~held])
        on_all = logistic().fit(x, y)
        row["baseline: logistic regression"] = {
            "held_out": float((on_split.predict(x[held]) == y[held]).mean()),
            "test": float((on_all.predict(test_x) == test_y).mean()),
        }
        log(f"  baseline: {row['baseline: logistic regression']}")
        rows[set_name] = row

    res = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.teaching_accuracy " + " ".join(argv or sys.argv[1:]),
        "machine": machine(),
        "backbone": "random-weights ResNet50" if args.backbone is None else str(args.backbone),
        "sets": {k: list(v) for k, v in SETS.items()},
        "per_class": args.per_class,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))
    log(f"wrote {args.out}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def markdown(res: dict) -> str:
    n = res["per_class"]
    lines = [
        f"Teaching 3 classes x {n} crops (left halves) against a logistic regression on the same "
        f"features ({res['backbone']}); held-out: the same {round(n * 0.2)} crops per class; "
        f"test: {n} crops per class from the right halves.",
        "",
        "| set | model | held-out | test |",
        "|---|---|---:|---:|",
    ]
    for set_name, row in res["results"].items():
        for label, r in row.items():
            lines.append(
                f"| {set_name} | {label} | {r['held_out'] * 100:.0f}% | {r['test'] * 100:.0f}% |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
