"""Inputs for the benchmarks: real photos at the sizes users have, and a checkpoint.

Everything is generated (no downloads) and cached in a temporary folder, so a second run starts
at once. The photos come from `skimage.data`; the large ones are those photos enlarged with a
little noise, so that they compress (and decode) like camera files rather than like flat
upscales. The ImageNet weights cannot be fetched here, so the checkpoint is a random ResNet50
whose head is centred on these photos' features: unlike a plain random model, which gives the
same top-1 for every picture, it gives different top-1s for different photos, so "does the top-1
agree" means something.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CACHE_VERSION = 3
PHOTO_NAMES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "motorcycle",
    "camera",
)


def cache_dir() -> Path:
    root = os.environ.get("BENCH_CACHE") or Path(tempfile.gettempdir()) / "resnet-classifier-bench"
    path = Path(root) / f"v{CACHE_VERSION}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def base_photo(name: str) -> np.ndarray:
    from skimage import data

    if name == "motorcycle":
        left, _, _ = data.stereo_motorcycle()
        return left
    return getattr(data, name)()


def _camera_like(arr: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Enlarge a photo to `size` (w, h) and add sensor-like grain, as a camera file has."""
    img = Image.fromarray(arr).convert("RGB")
    # crop to the target aspect first, so nothing is stretched
    w, h = img.size
    tw, th = size
    if w / h > tw / th:
        nw = round(h * tw / th)
        img = img.crop(((w - nw) // 2, 0, (w - nw) // 2 + nw, h))
    else:
        nh = round(w * th / tw)
        img = img.crop((0, (h - nh) // 2, w, (h - nh) // 2 + nh))
    big = np.asarray(img.resize(size, Image.BICUBIC), dtype=np.int16)
    big = big + rng.normal(0.0, 3.0, big.shape).astype(np.int16)
    return Image.fromarray(np.clip(big, 0, 255).astype(np.uint8))


@dataclass(frozen=True)
class Inputs:
    small: Path  # about 0.3 MP JPEG
    large: Path  # 24 MP JPEG (6000 x 4000)
    folder: Path  # 100 mixed photos
    checkpoint: Path

    def folder_files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())

    def describe(self) -> dict[str, object]:
        files = self.folder_files()
        sizes = []
        for p in files:
            with Image.open(p) as im:
                sizes.append(im.size[0] * im.size[1] / 1e6)
        kinds: dict[str, int] = {}
        for p in files:
            kinds[p.suffix.lower()] = kinds.get(p.suffix.lower(), 0) + 1
        with Image.open(self.small) as s, Image.open(self.large) as g:
            small_size, large_size = s.size, g.size
        return {
            "small": {
                "file": self.small.name,
                "size": small_size,
                "megapixels": round(small_size[0] * small_size[1] / 1e6, 2),
                "bytes": self.small.stat().st_size,
            },
            "large": {
                "file": self.large.name,
                "size": large_size,
                "megapixels": round(large_size[0] * large_size[1] / 1e6, 1),
                "bytes": self.large.stat().st_size,
            },
            "folder": {
                "count": len(files),
                "formats": kinds,
                "megapixels_median": round(float(np.median(sizes)), 2),
                "megapixels_max": round(float(max(sizes)), 1),
                "megapixels_total": round(float(sum(sizes)), 1),
                "bytes_total": sum(p.stat().st_size for p in files),
            },
        }


def make_inputs(log=print) -> Inputs:
    root = cache_dir()
    small = root / "small_rocket.jpg"
    large = root / "large_24mp.jpg"
    folder = root / "folder"
    ckpt = root / "resnet50_centred.pth"
    done = root / "done.json"
    if done.exists():
        return Inputs(small, large, folder, ckpt)
    log(f"making benchmark inputs in {root} (once)...")
    rng = np.random.default_rng(0)
    Image.fromarray(base_photo("rocket")).save(small, quality=90)
    _camera_like(base_photo("coffee"), (6000, 4000), rng).save(large, quality=92)
    _make_folder(folder, rng)
    make_checkpoint(ckpt)
    done.write_text(json.dumps({"version": CACHE_VERSION}))
    return Inputs(small, large, folder, ckpt)


def _make_folder(folder: Path, rng: np.random.Generator) -> None:
    """100 photos as a user's folder holds them: mostly JPEG of many sizes, some PNG/WebP."""
    folder.mkdir(parents=True, exist_ok=True)
    names = PHOTO_NAMES
    plan: list[tuple[str, tuple[int, int] | None, str]] = []
    # 40 small pictures as they come (0.05-1 MP): JPEG, PNG, WebP, greyscale
    for i in range(40):
        ext = ".png" if i % 8 == 3 else ".webp" if i % 8 == 6 else ".jpg"
        plan.append((names[i % len(names)], None, ext))
    # 10 screen-size pictures up to 1024 px
    for i in range(10):
        plan.append((names[(i + 3) % len(names)], (1024, 768) if i % 2 else (768, 1024), ".jpg"))
    # 30 phone-size photos, 2-5 MP
    for i in range(30):
        plan.append(
            (names[(i + 5) % len(names)], [(1600, 1200), (2048, 1536), (2592, 1728)][i % 3], ".jpg")
        )
    # 20 camera photos, 12 MP
    for i in range(20):
        plan.append((names[(i + 7) % len(names)], (4000, 3000) if i % 4 else (3000, 4000), ".jpg"))
    for i, (name, size, ext) in enumerate(plan):
        arr = base_photo(name)
        if size is None:
            # a random crop of 60-100% so no two files are the same picture
            h, w = arr.shape[:2]
            f = rng.uniform(0.6, 1.0)
            ch, cw = max(64, int(h * f)), max(64, int(w * f))
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            img = Image.fromarray(arr[y : y + ch, x : x + cw])
            if img.mode not in ("RGB", "L"):
                img = img.convert("RGB")
        else:
            img = _camera_like(arr, size, rng)
        path = folder / f"{i:03d}_{name}{ext}"
        if ext == ".jpg":
            img.save(path, quality=int(rng.integers(85, 96)))
        elif ext == ".webp":
            img.save(path, quality=90)
        else:
            img.save(path)


def make_checkpoint(path: Path) -> Path:
    """A random ResNet50 with its head centred on the photos' features (see module doc)."""
    import torch
    import torchvision
    from torchvision import transforms as T

    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    tf = T.Compose(
        [T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )
    batch = []
    for name in PHOTO_NAMES:
        img = Image.fromarray(base_photo(name)).convert("RGB")
        batch += [tf(img), tf(img.transpose(Image.FLIP_LEFT_RIGHT))]
    with torch.inference_mode():
        feats = torch.flatten(
            model.avgpool(
                model.layer4(
                    model.layer3(
                        model.layer2(
                            model.layer1(
                                model.maxpool(
                                    model.relu(model.bn1(model.conv1(torch.stack(batch))))
                                )
                            )
                        )
                    )
                )
            ),
            1,
        )
    mu = feats.mean(0)
    spread = (feats - mu).norm(dim=1).mean()
    w = torch.randn(1000, feats.shape[1]) * (
        4.0 / spread
    )  # logits of a few units, like a trained net
    state = model.state_dict()
    state["fc.weight"] = w
    state["fc.bias"] = -(w @ mu)
    torch.save(state, path)
    return path


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
