"""Read any image a user may have into an 8-bit RGB picture, or raise `ImageReadError`.

Every Pillow format, EXIF orientation applied, transparency composited on white, 16-bit scaled
(not clipped), first frame of animations. Large JPEGs are decoded at a reduced size with
Pillow's `draft` when the result is still at least twice what the model's resize needs, which
keeps the 256-px image materially the same while skipping most of the decoding work.
"""

from __future__ import annotations

import io
import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import ImageReadError

log = logging.getLogger(__name__)

# Extensions we look for when a folder is given; anything Pillow opens is accepted as a file.
IMAGE_EXTENSIONS = frozenset(
    ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN
) | {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}

# Safety margin for draft decoding: keep at least this many times the resize target.
DRAFT_OVERSAMPLE = 2
# Images up to this size (longest side) are always decoded in full, so their probabilities are
# the reference pipeline's to float noise; only larger JPEGs take the draft shortcut.
DRAFT_MIN_SIDE = 1024

ImageSource = str | os.PathLike[str] | bytes


def _describe(source: ImageSource) -> str:
    return "pasted image" if isinstance(source, bytes) else Path(source).name


def read_image(source: ImageSource, min_side: int | None = None) -> Image.Image:
    """Open `source` (a path or encoded bytes) as RGB.

    With `min_side`, a JPEG may be decoded at reduced size, never below
    `DRAFT_OVERSAMPLE * min_side` on its short side.
    """
    name = _describe(source)
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.exists():
            raise ImageReadError(f"{name}: file not found.")
        if path.is_dir():
            raise ImageReadError(f"{name}: is a folder, not an image.")
        if path.stat().st_size == 0:
            raise ImageReadError(f"{name}: the file is empty.")
    elif not source:
        raise ImageReadError("The pasted data is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            fp = io.BytesIO(source) if isinstance(source, bytes) else source
            with Image.open(fp) as img:
                if min_side and img.format == "JPEG":
                    _draft(img, min_side * DRAFT_OVERSAMPLE)
                img.seek(0)
                img.load()
                rgb = to_rgb(ImageOps.exif_transpose(img))
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f"{name}: not an image, or a format that cannot be read.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageReadError(
            f"{name}: too large to open safely (over {Image.MAX_IMAGE_PIXELS:,} pixels)."
        ) from None
    except (OSError, SyntaxError, EOFError) as exc:
        text = str(exc)
        if "truncated" in text or isinstance(exc, EOFError):
            raise ImageReadError(f"{name}: the file is truncated or incomplete.") from None
        raise ImageReadError(f"{name}: the file is damaged and cannot be decoded.") from None
    except MemoryError:
        raise ImageReadError(f"{name}: not enough memory to decode this image.") from None
    except Exception as exc:  # a decoder's own bug must still fail one file only
        log.debug("unexpected decoder error for %s", name, exc_info=True)
        raise ImageReadError(f"{name}: cannot be decoded ({type(exc).__name__}).") from None
    return rgb


def _draft(img: Image.Image, short_side: int) -> None:
    w, h = img.size
    if max(w, h) <= DRAFT_MIN_SIDE:
        return
    scale = short_side / min(w, h)
    if scale < 1:
        img.draft(img.mode, (math.ceil(w * scale), math.ceil(h * scale)))


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB the way a person would expect to see it."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_to_rgb(img)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """Scale 16-bit (or wider) greyscale to 8 bits instead of letting Pillow clip it to white."""
    arr = np.asarray(img)
    if arr.dtype.kind == "f":
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = (arr - lo) / (hi - lo or 1.0) * 255.0
    elif img.mode.startswith("I;16") or arr.max(initial=0) > 255:
        scaled = arr.astype(np.float32) / 257.0
    else:
        scaled = arr.astype(np.float32)
    grey = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")
    return grey.convert("RGB")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def expand_paths(paths: list[str | os.PathLike[str]], recursive: bool = False) -> list[Path]:
    """Files as given, folders as their images in name order (and below, if `recursive`)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = [p for p in path.glob(pattern) if p.is_file() and is_image_path(p)]
            out.extend(sorted(found, key=lambda p: str(p).lower()))
        else:
            out.append(path)
    return out
