"""Read any image a user may have into an 8-bit RGB picture, or raise `ImageReadError`.

Every Pillow format (and HEIC/AVIF through pillow-heif), EXIF orientation applied, transparency
composited on white, 16-bit and float scaled (not clipped), first frame of animations. Large JPEGs are decoded at a reduced size
with Pillow's `draft` when the result is still at least twice what the model's resize needs, which
keeps the 256-px image materially the same while skipping most of the decoding work.

Hostile files get one clear error each and cost bounded time and memory: only regular files are
opened, and without blocking (a FIFO or a device would hang `open` or never end); the pixel count
is checked explicitly against Pillow's limit in every format (Pillow's own warning is not enough:
turning it into an error needs a process-wide warnings filter, which is not thread-safe).

Memory: an image whose decode would hold over `MAX_DECODE_BYTES` (`core.decode.budget`) is
refused before decoding; the others wait for their share of the caller's budget. No step makes
a copy it can avoid: EXIF orientation is applied in place, deep and float pictures are scaled a slab of rows
at a time. Measured per file with `benchmarks/decode_memory.py`.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.decode.budget import MAX_DECODE_BYTES, SLAB_PIXELS, PixelClaim, decode_cost
from core.decode.files import ImageSource, describe, open_regular_file
from core.errors import ImageReadError

log = logging.getLogger(__name__)

# Longest side over shortest side beyond which the centre crop is meaningless (a line, not a
# picture); such images are refused before they are decoded. Panoramas stay well under it.
MAX_ASPECT = 100

# Safety margin for draft decoding: keep at least this many times the resize target.
DRAFT_OVERSAMPLE = 2
# Images up to this size (longest side) are always decoded in full, so their probabilities are
# the reference pipeline's to float noise; only larger JPEGs take the draft shortcut.
DRAFT_MIN_SIDE = 1024


def decode_cost_of(source: ImageSource, min_side: int | None = None) -> int | None:
    """`decode_cost` of what `read_image(source, min_side)` would decode, from the header alone,
    for another decoder (Qt's, for previews) to claim from `DECODE_BUDGET`. None when Pillow
    cannot read the header; never blocks (only regular files are opened)."""
    try:
        fp: BinaryIO = (
            io.BytesIO(source) if isinstance(source, bytes) else open_regular_file(source)
        )
        with fp, Image.open(fp) as img:
            full_size = img.size
            if min_side and img.format in ("JPEG", "MPO"):
                _draft(img, min_side * DRAFT_OVERSAMPLE)
            return decode_cost(img, full_size)
    except Exception:  # a header Pillow cannot read (Qt may): the caller estimates
        return None


def read_image(
    source: ImageSource,
    min_side: int | None = None,
    *,
    claim: PixelClaim | None = None,
    max_pixels: int | None = None,
    too_large: str = "too large to open safely",
    oversample: int | None = DRAFT_OVERSAMPLE,
) -> Image.Image:
    """Open `source` (a path or encoded bytes) as RGB.

    With `min_side` (the model's resize), a JPEG may be decoded at reduced size, never below
    `oversample * min_side` on its short side (None: never reduced), and a picture longer than `MAX_ASPECT`
    times its width is refused. With `claim`, the decode first waits for its pixels to fit in
    the claim's budget. With `max_pixels`, a larger image (after any draft) is refused with
    `too_large` before it is decoded.
    """
    name = describe(source)
    if isinstance(source, bytes):
        if not source:
            raise ImageReadError("The pasted data is empty.")
        fp: BinaryIO = io.BytesIO(source)
    else:
        fp = open_regular_file(source)
    try:
        with fp:
            img, rgb = Image.open(fp), None
            try:
                rgb = _decode(img, name, min_side, claim, max_pixels, too_large, oversample)
            finally:
                if rgb is not img:  # let the decoder's buffers go now, not at garbage collection
                    img.close()
    except ImageReadError:
        raise
    except _NoFinitePixels:
        raise ImageReadError(
            f"{name}: the image has no finite pixel value (all NaN or infinite)."
        ) from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{name}: not an image, or a format that cannot be read.") from None
    except Image.DecompressionBombError:
        raise ImageReadError(_too_large(name)) from None
    except PermissionError:
        raise ImageReadError(f"{name}: permission denied.") from None
    except (OSError, SyntaxError, EOFError) as exc:
        text = str(exc)
        if "truncated" in text or isinstance(exc, EOFError):
            raise ImageReadError(f"{name}: the file is truncated or incomplete.") from None
        raise ImageReadError(f"{name}: the file is damaged and cannot be decoded.") from None
    except MemoryError:
        raise ImageReadError(f"{name}: not enough memory to decode this image.") from None
    except Exception as exc:  # a decoder's own bug must still fail one file only
        if isinstance(exc, ValueError) and (
            "too large" in str(exc) or "Too much memory" in str(exc)
        ):
            raise ImageReadError(  # PNG's limits on text and ICC chunks
                f"{name}: too large to open safely (a text or colour profile block is too large)."
            ) from None
        log.debug("unexpected decoder error for %s", name, exc_info=True)
        raise ImageReadError(f"{name}: cannot be decoded ({type(exc).__name__}).") from None
    return rgb


def _decode(
    img: Image.Image,
    name: str,
    min_side: int | None,
    claim: PixelClaim | None,
    max_pixels: int | None,
    too_large: str,
    oversample: int | None = DRAFT_OVERSAMPLE,
) -> Image.Image:
    """`img`, opened but not decoded, as RGB: refused from its header if it would cost too
    much, and decoded once its cost fits in `claim`'s budget."""
    check_pixels(img, name)
    full_size = img.size
    if min_side:
        _check_aspect(img.size, name)
        if img.format in ("JPEG", "MPO") and oversample:
            _draft(img, min_side * oversample)
    if max_pixels is not None and img.width * img.height > max_pixels:
        raise ImageReadError(f"{name}: {too_large} ({img.width:,} x {img.height:,} pixels).")
    cost = decode_cost(img, full_size)
    if cost > MAX_DECODE_BYTES:
        raise ImageReadError(
            f"{name}: too large to open safely ({img.width:,} x {img.height:,} pixels would "
            f"take {_memory_size(cost)} of memory to decode)."
        )
    if claim is not None:
        claim.take(cost)
    # Every format opens on its first frame (PSD numbers its frames from 1: no seek)
    img.load()
    check_pixels(img, name)  # some formats (ICO, ...) pick their size on load
    ImageOps.exif_transpose(img, in_place=True)  # without a copy when there is nothing to do
    return to_rgb(img)


def _memory_size(size: int) -> str:
    return f"{size / 2**30:.1f} GB" if size >= 2**30 else f"{size / 2**20:,.0f} MB"


def check_pixels(img: Image.Image, name: str) -> None:
    """Refuse an image over Pillow's pixel limit, in every format, before it is decoded."""
    if _over_pixel_limit(img.size):
        raise ImageReadError(_too_large(name))


def size_is_refused(size: tuple[int, int]) -> bool:
    """Whether `read_image` refuses a picture of this size for classifying, from its header
    alone: another decoder (the GPU path) sends such a file here, so it gets the same error."""
    return _over_pixel_limit(size) or _too_thin(size)


def _over_pixel_limit(size: tuple[int, int]) -> bool:
    limit = Image.MAX_IMAGE_PIXELS
    return bool(limit) and size[0] * size[1] > limit


def _too_thin(size: tuple[int, int]) -> bool:
    w, h = size
    return max(w, h) > MAX_ASPECT * max(1, min(w, h))


def _too_large(name: str) -> str:
    limit = Image.MAX_IMAGE_PIXELS or 0
    return f"{name}: too large to open safely (over {limit:,} pixels)."


def _check_aspect(size: tuple[int, int], name: str) -> None:
    if _too_thin(size):
        w, h = size
        raise ImageReadError(
            f"{name}: too long and thin to classify ({w:,} x {h:,} pixels; at most {MAX_ASPECT}:1)."
        )


class _NoFinitePixels(ValueError):
    """A float image whose every pixel is NaN or infinite."""


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
        # pasted through its own alpha onto white: one full-size copy fewer than compositing
        rgba = img if mode == "RGBA" else img.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, (0, 0), rgba)
        return out
    return img.convert("RGB")


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """Scale 16-bit (or wider) greyscale to 8 bits instead of letting Pillow clip it to white.

    A slab of rows at a time: the float64 arithmetic on a whole 81 Mpx float picture held
    4 GB (`benchmarks/decode_memory.py`); by slabs it holds the 8-bit result and one slab.
    """
    w, h = img.size
    levels = np.empty((h, w), np.uint8)
    if img.mode == "F":
        # Scaled on the finite values: NaN is black, +-inf the brightest and darkest finite level.
        lo, hi = math.inf, -math.inf
        for _, arr in _row_slabs(img):
            values = arr[np.isfinite(arr)]
            if values.size:
                lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
        if lo > hi:
            raise _NoFinitePixels
        for top, arr in _row_slabs(img):
            scaled = arr.astype(np.float64)
            nan = np.isnan(scaled)
            np.nan_to_num(scaled, copy=False, nan=lo, posinf=hi, neginf=lo)
            np.clip(scaled, lo, hi, out=scaled)
            scaled -= lo
            scaled /= hi - lo or 1.0
            scaled *= 255.0
            scaled[nan] = 0.0
            levels[top : top + len(arr)] = _to_levels(scaled)
    else:
        wide = img.mode.startswith("I;16") or any(
            arr.max(initial=0) > 255 for _, arr in _row_slabs(img)
        )
        for top, arr in _row_slabs(img):
            scaled = arr.astype(np.float32)
            if wide:
                scaled /= 257.0
            levels[top : top + len(arr)] = _to_levels(scaled)
    return Image.fromarray(levels).convert("RGB")


def _row_slabs(img: Image.Image) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, pixels) for consecutive slabs of whole rows of `img`."""
    w, h = img.size
    rows = max(1, SLAB_PIXELS // max(1, w))
    for top in range(0, h, rows):
        yield top, np.asarray(img.crop((0, top, w, min(h, top + rows))))


def _to_levels(scaled: np.ndarray) -> np.ndarray:
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)
