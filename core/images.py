"""Read any image a user may have into an 8-bit RGB picture, or raise `ImageReadError`.

Every Pillow format (and HEIC/AVIF through pillow-heif), EXIF orientation applied, transparency
composited on white, 16-bit and float scaled (not clipped), first frame of animations. Large JPEGs are decoded at a reduced size with
Pillow's `draft` when the result is still at least twice what the model's resize needs, which
keeps the 256-px image materially the same while skipping most of the decoding work.

Hostile files get one clear error each and cost bounded time and memory: only regular files are
opened, and without blocking (a FIFO or a device would hang `open` or never end); the pixel count
is checked explicitly against Pillow's limit in every format (Pillow's own warning is not enough:
turning it into an error needs a process-wide warnings filter, which is not thread-safe).
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
from PIL import Image, ImageOps, UnidentifiedImageError, features

from core.errors import ImageReadError

log = logging.getLogger(__name__)

try:  # HEIC (the iPhone's format), and AVIF where Pillow lacks it
    import pillow_heif

    pillow_heif.register_heif_opener()
    if not features.check("avif"):
        pillow_heif.register_avif_opener()
except ImportError:  # pragma: no cover - a declared dependency
    log.info("pillow-heif is not installed: HEIC photos cannot be read")

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

# Bytes of decoded pixels that may be in memory at once across every decoding thread (the
# engine's and the window's previews). One image larger than this decodes alone.
DECODE_BUDGET_BYTES = 768 * 1024 * 1024

ImageSource = str | os.PathLike[str] | bytes


class PixelBudget:
    """Decoded pixels in flight, shared by threads: a decode waits until its pixels fit.

    Counted in bytes of decoded pixels (an estimate, see `decoded_bytes`), not in images: a
    folder of bombs and a folder of thumbnails-sized photos both stay under `capacity`.
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

# Bytes per pixel as Pillow stores a mode, plus the RGB copy `to_rgb` makes.
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# Decoders that hold extra full-size buffers (libwebp's canvas and frame, then Pillow's copy).
_FORMAT_FACTOR = {"WEBP": 3, "GIF": 2, "PNG": 1}


def decoded_bytes(img: Image.Image) -> int:
    """About how many bytes decoding `img` (at its current, possibly drafted size) holds."""
    w, h = img.size
    per_pixel = _STORED_BYTES.get(img.mode, 4) * _FORMAT_FACTOR.get(img.format or "", 1) + 4
    return w * h * per_pixel


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
        with fp, Image.open(fp) as img:
            check_pixels(img, name)
            if min_side:
                _check_aspect(img.size, name)
                if img.format in ("JPEG", "MPO"):
                    _draft(img, min_side * DRAFT_OVERSAMPLE)
            if max_pixels is not None and img.width * img.height > max_pixels:
                raise ImageReadError(
                    f"{name}: {too_large} ({img.width:,} x {img.height:,} pixels)."
                )
            if claim is not None:
                claim.take(decoded_bytes(img))
            # Every format opens on its first frame (PSD numbers its frames from 1: no seek)
            img.load()
            check_pixels(img, name)  # some formats (ICO, ...) pick their size on load
            rgb = to_rgb(ImageOps.exif_transpose(img))
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
        log.debug("unexpected decoder error for %s", name, exc_info=True)
        raise ImageReadError(f"{name}: cannot be decoded ({type(exc).__name__}).") from None
    return rgb


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
    limit = Image.MAX_IMAGE_PIXELS
    w, h = img.size
    if limit and w * h > limit:
        raise ImageReadError(_too_large(name))


def _too_large(name: str) -> str:
    limit = Image.MAX_IMAGE_PIXELS or 0
    return f"{name}: too large to open safely (over {limit:,} pixels)."


def _check_aspect(size: tuple[int, int], name: str) -> None:
    w, h = size
    if max(w, h) > MAX_ASPECT * max(1, min(w, h)):
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
    """Scale 16-bit (or wider) greyscale to 8 bits instead of letting Pillow clip it to white."""
    arr = np.asarray(img)
    if arr.dtype.kind == "f":
        # Scaled on the finite values: NaN is black, +-inf the brightest and darkest finite level.
        finite = np.isfinite(arr)
        if not finite.any():
            raise _NoFinitePixels
        values = arr[finite].astype(np.float64)
        lo, hi = float(values.min()), float(values.max())
        clipped = np.clip(
            np.nan_to_num(arr.astype(np.float64), nan=lo, posinf=hi, neginf=lo), lo, hi
        )
        scaled = (clipped - lo) / (hi - lo or 1.0) * 255.0
        scaled[np.isnan(arr)] = 0.0
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
