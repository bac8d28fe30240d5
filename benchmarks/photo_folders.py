"""Generated folders of camera-like photos, made once and cached beside the other inputs.

Each photo is a random crop of a `skimage.data` photo, enlarged to a drawn size with sensor-like
grain (so it decodes like a camera file), and saved as a JPEG of drawn quality and chroma
subsampling, some progressive, greyscale, CMYK or EXIF-rotated, a few as PNGs. A `PhotoMix`
says how those draws are spread: `benchmarks.gpu_decode` (a user's folder, median 1.5 MP) and
`benchmarks.gpu_fullsize` (a phone user's, a fifth at 8-12 MP) each have one. The same mix and
seed give the same bytes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import PHOTO_NAMES, base_photo
from benchmarks.timing import log


def grain(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Sensor-like noise (sigma 3 levels) for an image of `shape`, tiled from a 509 px patch at
    a random offset: drawing a normal per pixel of a 24 MP photo takes seconds."""
    tile = np.random.default_rng(7).normal(0.0, 3.0, (509, 509, 3)).astype(np.int16)
    h, w = shape[:2]
    reps = (h // 509 + 2, w // 509 + 2, 1)
    y, x = int(rng.integers(0, 509)), int(rng.integers(0, 509))
    out = np.tile(tile, reps)[y : y + h, x : x + w]
    return out if len(shape) == 3 else out[..., 0]


@dataclass(frozen=True)
class PhotoMix:
    """How a folder's photos vary. One draw `r` picks the file's kind: a PNG below `png`, else
    CMYK below `cmyk`, else greyscale below `grey` (colour photos only)."""

    megapixels: Callable[[np.random.Generator], float]  # a module-level function (pickled)
    crop_min: float  # the crop of the source photo: this share of its sides, up to all of it
    side_min: int  # the crop's smallest side, in pixels
    aspects: tuple[float, ...]  # width / height, drawn evenly
    portrait: float  # the chance the drawn aspect is turned upright
    resample: int  # Pillow's filter for the enlargement
    png: float
    cmyk: float
    grey: float
    quality: tuple[int, int]  # JPEG quality, drawn from [low, high)
    subsampling: tuple[int, ...]  # Pillow's 0 (4:4:4), 1 (4:2:2), 2 (4:2:0), drawn evenly
    progressive: float
    rotated: float  # the chance of an EXIF orientation of 3, 6 or 8


def make_photo(mix: PhotoMix, i: int, seed: int, folder: str) -> tuple[str, float, int]:
    """Photo number `i` of a folder: its file name, megapixels and size in bytes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = base_photo(PHOTO_NAMES[i % len(PHOTO_NAMES)])
    h, w = arr.shape[:2]
    f = rng.uniform(mix.crop_min, 1.0)
    ch, cw = max(mix.side_min, int(h * f)), max(mix.side_min, int(w * f))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    img = Image.fromarray(arr[y : y + ch, x : x + cw])
    img = img.convert("RGB") if img.mode != "L" else img
    mp = mix.megapixels(rng)
    aspect = mix.aspects[int(rng.integers(0, len(mix.aspects)))]
    if rng.random() < mix.portrait:
        aspect = 1 / aspect
    tw = max(64, round((mp * 1e6 * aspect) ** 0.5))
    th = max(64, round(tw / aspect))
    img = img.resize((tw, th), mix.resample)
    big = np.asarray(img, dtype=np.int16)
    big = big + grain(big.shape, rng)
    img = Image.fromarray(np.clip(big, 0, 255).astype(np.uint8), img.mode)
    r = rng.random()
    if r < mix.png:
        path = Path(folder) / f"{i:05d}.png"
        img.save(path, compress_level=1)
        return path.name, tw * th / 1e6, path.stat().st_size
    if r < mix.cmyk:
        img = img.convert("CMYK")
    elif r < mix.grey and img.mode == "RGB":
        img = img.convert("L")
    save: dict[str, Any] = {
        "quality": int(rng.integers(*mix.quality)),
        "subsampling": mix.subsampling[int(rng.integers(0, len(mix.subsampling)))],
    }
    if rng.random() < mix.progressive:
        save["progressive"] = True
    if rng.random() < mix.rotated:
        exif = Image.Exif()
        exif[0x0112] = [3, 6, 8][int(rng.integers(0, 3))]
        save["exif"] = exif.tobytes()
    path = Path(folder) / f"{i:05d}.jpg"
    img.save(path, **save)
    return path.name, tw * th / 1e6, path.stat().st_size


def _make_photo(job: tuple[PhotoMix, int, int, str]) -> tuple[str, float, int]:
    return make_photo(*job)


def make_folder(
    folder: Path,
    count: int,
    mix: PhotoMix,
    first_seed: int,
    describe: Callable[[list[float]], dict[str, Any]],
) -> dict[str, Any]:
    """`count` photos of `mix` in `folder` (photo i drawn with seed `first_seed + i`), made once
    on all cores; the folder's description: `describe(megapixels)` and its sizes."""
    done = folder / "done.json"
    if done.exists():
        return json.loads(done.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    log(f"making {count} photos in {folder} (once)...")
    start = time.perf_counter()
    jobs = [(mix, i, first_seed + i, str(folder)) for i in range(count)]
    with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        made = list(pool.map(_make_photo, jobs, chunksize=8))
    info = {
        "count": count,
        **describe([m for _, m, _ in made]),
        "bytes_total": sum(b for _, _, b in made),
        "png": sum(n.endswith(".png") for n, _, _ in made),
        "seconds_to_make": round(time.perf_counter() - start, 1),
    }
    done.write_text(json.dumps(info))
    log(f"made: {info}")
    return info


def folder_files(folder: Path) -> list[Path]:
    """The photos of a generated folder, in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix in (".jpg", ".png"))
