"""`python -m benchmarks.gpu_fullsize`: full-size photo folders on a GPU machine.

A folder like a phone user's (`fullsize_folder`): median about 2.2 MP, mean about 3.9 MP, a fifth
of the files 8-12 MP, with 4:2:0, 4:2:2 and 4:4:4 JPEGs, some progressive, greyscale or
EXIF-rotated, and a few PNGs; and, as a second row, the 1.5 MP folder of
`benchmarks/gpu_decode.py`. On each, side by side in one process, rounds interleaved:

- the GPU path as the CLI runs it (`Classifier(..., decoder=GpuJpegDecoder())`, `classify_many`,
  batch 8);
- where TorchCodec is installed (so the GPU path decodes through it), the GPU path through
  torchvision's `decode_jpeg` instead (`GpuJpegDecoder(backend="torchvision")`);
- the Pillow path on the same GPU (`decoder=PillowDecoder()`);

in images/s and megapixels/s, with the GPU path's top-1 agreement with the Pillow path (fp32).
Then start-up: the CLI on 20 photos from a fresh process, to its first record and to its end,
against the floor of `import torch` plus CUDA's initialisation in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.data import cache_dir
from benchmarks.photo_folders import PhotoMix, folder_files, make_folder
from benchmarks.timing import log

RESULTS = Path(__file__).parent / "results"
FOLDER_VERSION = 1
ROOT = Path(__file__).resolve().parents[1]


def _megapixels(rng: np.random.Generator) -> float:
    """A fifth at 8-12 MP (phone cameras), the rest log-normal around 1.8 MP (0.3-7.9)."""
    if rng.random() < 0.2:
        return float(rng.uniform(8.0, 12.0))
    return float(np.clip(np.exp(rng.normal(np.log(1.8), 0.7)), 0.3, 7.9))


# 4:2:0 as most cameras, 4:4:4 as many phones and editors, some 4:2:2; no CMYK
MIX = PhotoMix(
    megapixels=_megapixels,
    crop_min=0.6,
    side_min=64,
    aspects=(4 / 3, 3 / 2, 16 / 9),
    portrait=0.25,
    resample=Image.Resampling.BILINEAR,
    png=0.02,
    cmyk=0.02,
    grey=0.07,
    quality=(80, 96),
    subsampling=(2, 2, 2, 2, 2, 2, 0, 0, 0, 1),
    progressive=0.1,
    rotated=0.1,
)


def fullsize_folder(count: int = 4000) -> tuple[Path, dict[str, Any]]:
    """The full-size folder of `count` photos, made once on all cores, and its description."""
    folder = cache_dir() / f"fullsize_{count}_v{FOLDER_VERSION}"
    return folder, make_folder(folder, count, MIX, 5000, _describe)


def _describe(mps: list[float]) -> dict[str, Any]:
    return {
        "megapixels_median": round(float(np.median(mps)), 2),
        "megapixels_mean": round(float(np.mean(mps)), 2),
        "share_8_to_12_mp": round(float(np.mean([m >= 8 for m in mps])), 3),
        "megapixels_total": round(float(sum(mps)), 1),
    }


def _megapixels_of(files: list[Path]) -> float:
    from PIL import Image

    total = 0.0
    for p in files:
        with Image.open(p) as im:
            total += im.size[0] * im.size[1] / 1e6
    return total


def folder_row(checkpoint: Path, files: list[Path], rounds: int) -> dict[str, Any]:
    """The GPU path and the Pillow path on one folder, interleaved, and their agreement."""
    import torch

    from benchmarks.timing import interleaved
    from core import Classifier, GpuJpegDecoder, PillowDecoder, load_checkpoint

    decoder = GpuJpegDecoder()
    gpu = Classifier(load_checkpoint(checkpoint), "cuda", decoder=decoder)
    pillow = Classifier(load_checkpoint(checkpoint), "cuda", decoder=PillowDecoder())
    paths: dict[str, Classifier] = {f"gpu path ({decoder.backend})": gpu}
    if decoder.backend != "torchvision":
        tv = GpuJpegDecoder(backend="torchvision")
        paths["gpu path (torchvision)"] = Classifier(
            load_checkpoint(checkpoint), "cuda", decoder=tv
        )
    paths["pillow path"] = pillow

    def run(c: Classifier) -> list[Any]:
        out = list(c.classify_many(files, top_k=5, batch_size=8))
        torch.cuda.synchronize()
        return out

    log(f"  agreement pass on {len(files)} files")
    out = {name: run(c) for name, c in paths.items()}
    b = out["pillow path"]
    row: dict[str, Any] = {"files": len(files), "paths": list(paths)}
    for name, a in out.items():
        if name == "pillow path":
            continue
        both = [(x, y) for x, y in zip(a, b, strict=True) if x.ok and y.ok]
        same = sum(x.top.index == y.top.index for x, y in both)
        row[name] = {
            "agreement_top1": {"same": same, "of": len(both), "share": round(same / len(both), 4)},
            "same_files_failed": [x.path for x in a if not x.ok] == [y.path for y in b if not y.ok],
        }
    log(f"  {rounds} interleaved rounds")
    t = interleaved({name: lambda c=c: run(c) for name, c in paths.items()}, rounds, 0)
    mp = _megapixels_of(files)
    row["megapixels"] = round(mp, 1)
    for name, seconds in t.items():
        s = statistics.median(seconds)
        row.setdefault(name, {}).update(
            {
                "seconds": round(s, 2),
                "images_per_s": round(len(files) / s, 1),
                "megapixels_per_s": round(mp / s, 0),
                "images_per_s_slowest_fastest": [
                    round(len(files) / max(seconds), 1),
                    round(len(files) / min(seconds), 1),
                ],
            }
        )
    for name in paths:
        if name != "pillow path":
            row[name]["over_pillow"] = round(
                row[name]["images_per_s"] / row["pillow path"]["images_per_s"], 2
            )
    return row


def startup(checkpoint: Path, files: list[Path], rounds: int) -> dict[str, Any]:
    """Fresh processes: the CLI on 20 photos (to its first record, to its end) against the floor
    of importing torch and starting CUDA (`benchmarks.cli_startup`)."""
    from benchmarks.cli_startup import measure

    res = measure(checkpoint, files[:20], rounds)
    return {k.removeprefix("this: "): v for k, v in res["median_s"].items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_fullsize", description=__doc__)
    p.add_argument("--images", type=int, default=4000, help="full-size photos (default 4000)")
    p.add_argument("--small-images", type=int, default=2000, help="1.5 MP photos (default 2000)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--startup-rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS / "gpu_fullsize.json")
    args = p.parse_args(argv)

    from benchmarks.data import make_inputs
    from benchmarks.gpu_decode import photo_folder
    from benchmarks.timing import machine

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    inp = make_inputs(log)
    full, info = fullsize_folder(args.images)
    small = photo_folder(args.small_images)
    res: dict[str, Any] = {
        "started": started,
        "command": "python -m benchmarks.gpu_fullsize " + " ".join(argv or sys.argv[1:]),
        "machine": machine(),
        "fullsize_folder": info,
    }
    log("full-size folder")
    res["fullsize"] = folder_row(inp.checkpoint, folder_files(full), args.rounds)
    log("1.5 MP folder")
    res["small_1_5mp"] = folder_row(inp.checkpoint, folder_files(small), args.rounds)
    log("start-up")
    res["startup_seconds"] = startup(inp.checkpoint, folder_files(full), args.startup_rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))
    return 0


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"On {res['machine'].get('gpu')} ({res['machine']['cores']} cores), side by side:",
        "",
        "| folder | path | images/s | MP/s | GPU / Pillow | top-1 agreement |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, label in (("fullsize", "full-size"), ("small_1_5mp", "1.5 MP")):
        row = res[key]
        name = f"{label} ({row['files']} files, {row['megapixels']:.0f} MP)"
        for path in row["paths"]:
            r = row[path]
            extra = (
                f"{r['over_pillow']:.2f}x | {r['agreement_top1']['share'] * 100:.1f}%"
                if path != "pillow path"
                else " | "
            )
            lines.append(
                f"| {name} | {path} | {r['images_per_s']:.0f} | {r['megapixels_per_s']:.0f} "
                f"| {extra} |"
            )
    s = res["startup_seconds"]
    lines += [
        "",
        "Start-up, fresh processes (median): " + ", ".join(f"{k} {v:.2f} s" for k, v in s.items()),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
