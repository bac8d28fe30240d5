"""Which files to read, opened safely, and the name a result carries for each source.

Only regular files are opened, and without blocking (a FIFO or a device would hang `open` or
never end).
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from core.errors import ImageReadError
from core.printable import PASTED_IMAGE

ImageSource = str | os.PathLike[str] | bytes


def describe(source: ImageSource) -> str:
    """A source's name in a message: its file name, or "pasted image" for bytes."""
    return PASTED_IMAGE if isinstance(source, bytes) else Path(source).name


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


@functools.cache
def image_extensions() -> frozenset[str]:
    """Extensions we look for when a folder is given; anything Pillow opens is accepted as a
    file. MPO (cameras' stereo JPEGs) is opened by the JPEG plugin, so it is not in `Image.OPEN`.
    Cached; `apply_image_settings` clears it when it registers more formats."""
    return frozenset(
        ext.lower()
        for ext, fmt in Image.registered_extensions().items()
        if fmt in Image.OPEN or fmt == "MPO"
    ) | {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in image_extensions()


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
        return PASTED_IMAGE
    if isinstance(source, Image.Image):
        return "image"
    return str(source)
