"""Process-wide settings of the image libraries, applied by an explicit call from each entry
point (the CLIs, the window's worker, a Ray actor, the tests): nothing happens at import.

Warning filters and Pillow's block size belong to the whole process, so they are set here once
and never per call (changing them per call is not thread-safe).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings

from PIL import Image, features

log = logging.getLogger(__name__)

# Pillow keeps a picture in blocks of this many bytes. Its default (16 MB) is under glibc's
# mmap threshold once that has risen (it follows the largest block freed, up to 32 MB), so a
# big picture's blocks stayed in the heap after it was freed and the process kept them: the
# CLI over the bombs peaked at 1.9 GB with 16 MB blocks, 1.65 GB with 64 MB ones, which glibc
# always maps apart and hands back to the system when the picture goes. A small picture still
# takes only its own size.
PILLOW_BLOCK_BYTES = 64 * 1024 * 1024

_lock = threading.Lock()
_applied = False


def apply_image_settings() -> None:
    """Register HEIC/AVIF, set Pillow's block size, silence Pillow's and libtiff's own warnings.

    Idempotent and thread-safe; each entry point calls it before reading its first image.
    """
    global _applied
    with _lock:
        if _applied:
            return
        _applied = True
        _register_heif()
        with contextlib.suppress(AttributeError):
            Image.core.set_block_size(PILLOW_BLOCK_BYTES)
        # The size is checked explicitly in `read_image`; Pillow's own warnings about a damaged
        # file ("Corrupt EXIF data", "tag had too many entries"...) are noise to a user, who
        # gets the file's one error or result instead.
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
        with contextlib.suppress(ImportError):
            from PIL import _imaging  # noqa: F401  (loads libtiff, if Pillow was built with it)

            _silence_libtiff()
        from core.decode.files import image_extensions

        image_extensions.cache_clear()  # the HEIF openers add extensions


def _register_heif() -> None:
    """HEIC (the iPhone's format), and AVIF where Pillow lacks it."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - a declared dependency
        log.info("pillow-heif is not installed: HEIC photos cannot be read")
        return
    pillow_heif.register_heif_opener()
    if not features.check("avif"):
        pillow_heif.register_avif_opener()


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
