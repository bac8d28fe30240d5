"""How much memory decoding may hold, and what one decode will hold, from the header alone.

What a decode holds at its peak (`decode_cost`) is worked out from the header, with the
decoder's own buffers and every copy on the way to RGB (a 88 Mpx lossless WebP held 1.3 GB,
16 bytes a pixel, while its picture is 0.35 GB). An image over `MAX_DECODE_BYTES` is refused
before decoding (`core.decode.images`); the others wait in `DECODE_BUDGET` until they fit.
Measured per file with `benchmarks/decode_memory.py`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from PIL import ExifTags, Image

# Bytes that decoding may hold at once across every decoding thread (the engine's and the
# window's previews), counted as each decode's peak working set (`decode_cost`). It is also the
# most one image may cost: a larger one is refused from its header, before any pixel is decoded.
# With the CLI's own ~1 GB (torch, the model, a batch), a run stays under about 2 GB.
DECODE_BUDGET_BYTES = 768 * 1024 * 1024
MAX_DECODE_BYTES = DECODE_BUDGET_BYTES

# Pixels per slab when deep and float pictures are scaled to 8 bits: a few MB of float64 at a time.
SLAB_PIXELS = 1 << 20


class PixelBudget:
    """Decoded pixels in flight, shared by threads: a decode waits until its pixels fit.

    Counted in bytes each decode holds at its peak (`decode_cost`: the decoder's buffers and
    every copy, not just the picture), not in images: a folder of bombs and a folder of
    thumbnail-sized photos both stay under `capacity`.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def claim(self) -> Iterator[PixelClaim]:
        """A claim that `read_image` fills once it knows the size; released on exit."""
        claim = PixelClaim(self)
        try:
            yield claim
        finally:
            claim.release()

    def _acquire(self, amount: int) -> int:
        amount = min(amount, self.capacity)  # larger than everything: it waits to run alone
        with self._cond:
            while self.in_use and self.in_use + amount > self.capacity:
                self._cond.wait()
            self.in_use += amount
            self.peak = max(self.peak, self.in_use)
        return amount

    def _release(self, amount: int) -> None:
        with self._cond:
            self.in_use -= amount
            self._cond.notify_all()


class PixelClaim:
    """One image's share of a `PixelBudget`, taken when its decoded size is known."""

    def __init__(self, budget: PixelBudget) -> None:
        self._budget = budget
        self._held = 0

    def take(self, amount: int) -> None:
        """Wait until `amount` more bytes fit in the budget, then hold them."""
        self._held += self._budget._acquire(amount)

    def release(self) -> None:
        if self._held:
            self._budget._release(self._held)
            self._held = 0


DECODE_BUDGET = PixelBudget(DECODE_BUDGET_BYTES)
"""The process-wide budget: the engine's decoders and the window's previews share it."""

# Bytes per pixel as Pillow stores a mode (everything else takes 4).
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_HIGH_DEPTH = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_ALPHA = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
# Full-size buffers a decoder holds beyond Pillow's picture, in bytes per pixel (measured with
# `benchmarks/decode_memory.py`): libwebp keeps its canvas and the previous frame's, and Pillow
# a bytes copy of the frame (16 bytes a pixel at the peak for RGB); libheif its YUV planes.
_DECODER_BYTES = {"WEBP": 12, "HEIF": 8, "AVIF": 8}


def decode_cost(img: Image.Image, full_size: tuple[int, int] | None = None) -> int:
    """About the most bytes reading `img` as RGB holds at once, from its header alone.

    The decoder's own buffers, Pillow's picture at its (possibly drafted) size, and then the
    larger of a transposed copy (if EXIF may ask for one) and the conversion to RGB (`to_rgb`).
    `full_size` is the size before a JPEG's `draft`. Measured against the real peak in
    `benchmarks/decode_memory.py` for every kind of file in `tests/hostile_corpus.py`.
    """
    w, h = img.size
    mode = img.mode
    stored = _STORED_BYTES.get(mode, 4)
    slabs = 0
    if mode in _HIGH_DEPTH:
        convert = 1 + 4  # 8-bit levels (the grey picture shares them), the RGB picture
        slabs = SLAB_PIXELS * 18  # one slab as float64, its copies and masks
    elif mode in _ALPHA or "transparency" in img.info:
        convert = (0 if mode == "RGBA" else 4) + 4  # RGBA, then composited on white
    else:
        convert = 0 if mode == "RGB" else 4
    rotate = stored if _may_rotate(img) else 0
    per_pixel = _DECODER_BYTES.get(img.format or "", 0) + stored + max(rotate, convert)
    cost = w * h * per_pixel + slabs
    if img.format in ("JPEG", "MPO") and "progressive" in img.info:
        # libjpeg keeps every DCT coefficient of a progressive file (2 bytes a sample, at full
        # size) whatever reduced size `draft` asked for
        full_w, full_h = full_size or img.size
        cost += int(full_w * full_h * 2 * _jpeg_samples_per_pixel(img))
    return cost


def _jpeg_samples_per_pixel(img: Image.Image) -> float:
    """Samples a JPEG stores per pixel: 3 for 4:4:4 colour, 1.5 for 4:2:0, 1 for grey."""
    layers = getattr(img, "layer", None) or [(0, 1, 1, 0)] * len(img.getbands())
    h_max = max(layer[1] for layer in layers) or 1
    v_max = max(layer[2] for layer in layers) or 1
    return sum(layer[1] * layer[2] for layer in layers) / (h_max * v_max)


def _may_rotate(img: Image.Image) -> bool:
    """Whether `exif_transpose` may transpose `img`, known before its pixels are decoded."""
    if img.format == "PNG" and "exif" not in img.info:
        return True  # an eXIf chunk after the pixels is only read by decoding them
    try:
        return img.getexif().get(ExifTags.Base.Orientation, 1) != 1
    except Exception:  # damaged EXIF: assume the worst, decoding will tell
        return True
