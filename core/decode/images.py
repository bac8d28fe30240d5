"""Read any image a user may have into an 8-bit RGB picture, or raise `ImageReadError`.

Every Pillow format (and HEIC/AVIF through pillow-heif), EXIF orientation applied, transparency
composited on white, 16-bit and float scaled (not clipped), first frame of animations. Large JPEGs are decoded at a reduced size with
Pillow's `draft` when the result is still at least twice what the model's resize needs, which
keeps the 256-px image materially the same while skipping most of the decoding work.

Hostile files get one clear error each and cost bounded time and memory: only regular files are
opened, and without blocking (a FIFO or a device would hang `open` or never end); the pixel count
is checked explicitly against Pillow's limit in every format (Pillow's own warning is not enough:
turning it into an error needs a process-wide warnings filter, which is not thread-safe).

Memory: what a decode will hold at its peak (`decode_cost`) is worked out from the header, with
the decoder's own buffers and every copy on the way to RGB (a 88 Mpx lossless WebP held 1.3 GB,
16 bytes a pixel, while its picture is 0.35 GB). An image over `MAX_DECODE_BYTES` is refused
before decoding; the others wait in `DECODE_BUDGET` until they fit. No step makes a copy it can
avoid: EXIF orientation is applied in place, deep and float pictures are scaled a slab of rows
at a time. Measured per file with `benchmarks/decode_memory.py`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError, features

from core.errors import ImageReadError

log = logging.getLogger(__name__)

try:  # HEIC (the iPhone's format), and AVIF where Pillow lacks it
    import pillow_heif

    pillow_heif.register_heif_opener()
    if not features.check("avif"):
        pillow_heif.register_avif_opener()
except ImportError:  # pragma: no cover - a declared dependency
    log.info("pillow-heif is not installed: HEIC photos cannot be read")

# Pillow keeps a picture in blocks of this many bytes. Its default (16 MB) is under glibc's
# mmap threshold once that has risen (it follows the largest block freed, up to 32 MB), so a
# big picture's blocks stayed in the heap after it was freed and the process kept them: the
# CLI over the bombs peaked at 1.9 GB with 16 MB blocks, 1.65 GB with 64 MB ones, which glibc
# always maps apart and hands back to the system when the picture goes. A small picture still
# takes only its own size.
PILLOW_BLOCK_BYTES = 64 * 1024 * 1024
with contextlib.suppress(AttributeError):
    Image.core.set_block_size(PILLOW_BLOCK_BYTES)

# The size is checked explicitly in `read_image`; Pillow's own warnings about a damaged file
# ("Corrupt EXIF data", "tag had too many entries"...) are noise to a user, who gets the file's
# one error or result instead. Installed once here, not per call: warning filters are
# process-wide and changing them per call is not thread-safe.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", module=r"PIL(\.|$)")


def _silence_libtiff() -> None:
    """libtiff prints its warnings and errors to stderr itself, naming every file
    "tempfile.tif"; Pillow reports a failed decode by its return code, so turn them off."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            found = {line.split()[-1] for line in maps if "libtiff" in line.rsplit("/", 1)[-1]}
    except OSError:  # not Linux: leave libtiff as it is
        return
    import ctypes

    for path in found:
        with contextlib.suppress(OSError, AttributeError):
            lib = ctypes.CDLL(path)
            for setter in ("TIFFSetWarningHandler", "TIFFSetErrorHandler"):
                getattr(lib, setter).restype = ctypes.c_void_p
                getattr(lib, setter).argtypes = [ctypes.c_void_p]
                getattr(lib, setter)(None)


with contextlib.suppress(ImportError):
    from PIL import _imaging  # noqa: F401  (loads libtiff, if Pillow was built with it)

    _silence_libtiff()

# Extensions we look for when a folder is given; anything Pillow opens is accepted as a file.
# MPO (cameras' stereo JPEGs) is opened by the JPEG plugin, so it is not in `Image.OPEN`.
IMAGE_EXTENSIONS = frozenset(
    ext.lower()
    for ext, fmt in Image.registered_extensions().items()
    if fmt in Image.OPEN or fmt == "MPO"
) | {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}

# Longest side over shortest side beyond which the centre crop is meaningless (a line, not a
# picture); such images are refused before they are decoded. Panoramas stay well under it.
MAX_ASPECT = 100

# Safety margin for draft decoding: keep at least this many times the resize target.
DRAFT_OVERSAMPLE = 2
# Images up to this size (longest side) are always decoded in full, so their probabilities are
# the reference pipeline's to float noise; only larger JPEGs take the draft shortcut.
DRAFT_MIN_SIDE = 1024

# Bytes that decoding may hold at once across every decoding thread (the engine's and the
# window's previews), counted as each decode's peak working set (`decode_cost`). It is also the
# most one image may cost: a larger one is refused from its header, before any pixel is decoded.
# With the CLI's own ~1 GB (torch, the model, a batch), a run stays under about 2 GB.
DECODE_BUDGET_BYTES = 768 * 1024 * 1024
MAX_DECODE_BYTES = DECODE_BUDGET_BYTES

ImageSource = str | os.PathLike[str] | bytes


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
        slabs = _SLAB_PIXELS * 18  # one slab as float64, its copies and masks
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


def _may_rotate(img: Image.Image) -> bool:
    """Whether `exif_transpose` may transpose `img`, known before its pixels are decoded."""
    if img.format == "PNG" and "exif" not in img.info:
        return True  # an eXIf chunk after the pixels is only read by decoding them
    try:
        return img.getexif().get(ExifTags.Base.Orientation, 1) != 1
    except Exception:  # damaged EXIF: assume the worst, decoding will tell
        return True


def _describe(source: ImageSource) -> str:
    return "pasted image" if isinstance(source, bytes) else Path(source).name


def read_image(
    source: ImageSource,
    min_side: int | None = None,
    *,
    claim: PixelClaim | None = None,
    max_pixels: int | None = None,
    too_large: str = "too large to open safely",
) -> Image.Image:
    """Open `source` (a path or encoded bytes) as RGB.

    With `min_side` (the model's resize), a JPEG may be decoded at reduced size, never below
    `DRAFT_OVERSAMPLE * min_side` on its short side, and a picture longer than `MAX_ASPECT`
    times its width is refused. With `claim`, the decode first waits for its pixels to fit in
    the claim's budget. With `max_pixels`, a larger image (after any draft) is refused with
    `too_large` before it is decoded.
    """
    name = _describe(source)
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
                rgb = _decode(img, name, min_side, claim, max_pixels, too_large)
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
) -> Image.Image:
    """`img`, opened but not decoded, as RGB: refused from its header if it would cost too
    much, and decoded once its cost fits in `claim`'s budget."""
    check_pixels(img, name)
    full_size = img.size
    if min_side:
        _check_aspect(img.size, name)
        if img.format in ("JPEG", "MPO"):
            _draft(img, min_side * DRAFT_OVERSAMPLE)
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


def open_regular_file(source: str | os.PathLike[str]) -> BinaryIO:
    """The file opened for reading, if it is a regular file; else `ImageReadError`.

    `stat` first, and `open` with O_NONBLOCK: a FIFO would block `open` until a writer comes,
    and a device or a /proc file never ends. Checked again on the open descriptor, in case the
    name was swapped in between.
    """
    check_regular_file(source)
    path = Path(source)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except PermissionError:
        raise ImageReadError(f"{path.name}: permission denied.") from None
    except OSError as exc:
        raise ImageReadError(f"{path.name}: cannot be opened ({exc.strerror}).") from None
    try:
        _check_stat(os.fstat(fd), path.name)
    except ImageReadError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def check_regular_file(source: str | os.PathLike[str]) -> None:
    """Raise `ImageReadError` unless `source` is a readable-looking, non-empty regular file.

    Only `stat` is called, never `open`: safe on FIFOs, devices and broken links.
    """
    path = Path(source)
    name = path.name or str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ImageReadError(
                f"{name}: broken link (what it points to does not exist)."
            ) from None
        raise ImageReadError(f"{name}: file not found.") from None
    except PermissionError:
        raise ImageReadError(f"{name}: permission denied.") from None
    except OSError as exc:
        if os.path.islink(path):
            raise ImageReadError(f"{name}: broken link ({exc.strerror}).") from None
        raise ImageReadError(f"{name}: cannot be opened ({exc.strerror}).") from None
    _check_stat(st, name)


def _check_stat(st: os.stat_result, name: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(f"{name}: is a folder, not an image.")
    if not stat.S_ISREG(st.st_mode) or st.st_dev in _pseudo_file_systems():
        raise ImageReadError(f"{name}: not a regular file (a pipe, a device or a system file).")
    if st.st_size == 0:
        raise ImageReadError(f"{name}: the file is empty.")


@functools.cache
def _pseudo_file_systems() -> frozenset[int]:
    """/proc and /sys: their "regular" files report size 0 and may never end."""
    devices = set()
    for root in ("/proc", "/sys"):
        with contextlib.suppress(OSError):
            devices.add(os.stat(root).st_dev)
    return frozenset(devices)


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


# Pixels per slab in `_high_depth_to_rgb`: a few MB of float64 at a time.
_SLAB_PIXELS = 1 << 20


def _row_slabs(img: Image.Image) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, pixels) for consecutive slabs of whole rows of `img`."""
    w, h = img.size
    rows = max(1, _SLAB_PIXELS // max(1, w))
    for top in range(0, h, rows):
        yield top, np.asarray(img.crop((0, top, w, min(h, top + rows))))


def _to_levels(scaled: np.ndarray) -> np.ndarray:
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def expand_paths(paths: list[str | os.PathLike[str]], recursive: bool = False) -> list[Path]:
    """Files as given, folders as their images in name order (and below, if `recursive`)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            # every entry with an image name, whatever it is: a broken link or a FIFO gets
            # its own error record instead of vanishing (`is_dir` only stats, never opens)
            found = [p for p in path.glob(pattern) if is_image_path(p) and not p.is_dir()]
            out.extend(sorted(found, key=lambda p: str(p).lower()))
        else:
            out.append(path)
    return out


def source_name(source: object) -> str:
    """The name a result carries for `source`: its path, "pasted image" for bytes."""
    if isinstance(source, bytes):
        return "pasted image"
    if isinstance(source, Image.Image):
        return "image"
    return str(source)
