"""Copying a file so that a crash at any moment leaves either no copy or a whole, checked one.

The copy is written under a hidden `.name.part` name, flushed to disk, read back and checked
against the original's SHA-256, and only then renamed to its final name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

CHUNK = 1 << 20


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The file's SHA-256, read in 1 MB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def part_path(dst: str | os.PathLike[str]) -> Path:
    """Where a copy to `dst` is written before it is checked."""
    dst = Path(dst)
    return dst.with_name(f".{dst.name}.part")


def copy_verified(src: Path, dst: Path, digest: str) -> None:
    """Copy `src` to `dst` (which must not exist): written, fsynced, verified, then renamed.

    Raises OSError when the copy does not match `digest`; the partial copy is removed.
    """
    part = part_path(dst)
    try:
        with open(src, "rb") as fin, open(part, "wb") as fout:
            while chunk := fin.read(CHUNK):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        shutil.copystat(src, part)  # photo managers date a photo by its file time too
        if sha256_of(part) != digest:
            raise OSError(5, f"the copy of {src.name} does not match the original")
        os.rename(part, dst)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _sync_folder(dst.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
