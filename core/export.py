"""Saving results to a file, atomically: a failed save never costs the previous file.

The records are `resnet-classify --format json|csv`'s (`core.results`). They go to a temporary
file in the same folder, are flushed and synced, then `os.replace` puts them in place: on a full
disk or any other failure the file that was there before is unchanged, and the caller hears why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from core.errors import ExportError
from core.results import ClassificationResult, printable, record_writer

JSON_SUFFIXES = (".json", ".jsonl")


def format_for(path: str | os.PathLike[str]) -> str:
    """JSON lines for .json/.jsonl, else CSV."""
    return "json" if Path(path).suffix.lower() in JSON_SUFFIXES else "csv"


def write_results(
    path: str | os.PathLike[str],
    results: Iterable[ClassificationResult],
    fmt: str | None = None,
) -> int:
    """Write `results` to `path` all at once or not at all; the number written.

    Raises `ExportError` with a sentence for the user; `path` is then as it was before.
    """
    path = Path(path)
    fmt = fmt or format_for(path)
    folder = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise _error(path, exc) from None
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            write = record_writer(out, fmt)
            for result in results:
                write(result)
                count += 1
            out.flush()
            os.fsync(out.fileno())
            os.chmod(tmp, mode_for(path))
        os.replace(tmp, path)
    except (OSError, UnicodeError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _error(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(folder)
    return count


def mode_for(path: str | os.PathLike[str]) -> int:
    """The permissions a file written in place of `path` gets: the replaced file's, or for a new
    one what the umask allows of rw-rw-rw- (a temporary file is made 0600 whatever the umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux says it without changing it (os.umask would, for a moment, for every thread)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def copy_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Copy `source` over `target` all at once or not at all (Teach's Save…).

    Raises `ExportError` with a sentence; on a full disk the file that was at `target` stays.
    """
    target = Path(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise _error(target, exc, "the model") from None
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode_for(target))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _error(target, exc, "the model") from None
        raise
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (not on Windows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _error(path: Path, exc: BaseException, what: str = "the results") -> ExportError:
    reason = getattr(exc, "strerror", None) or str(exc)
    kept = " The previous file is unchanged." if path.exists() else ""
    return ExportError(f"Could not save {what} to {printable(path.name)}: {reason}.{kept}")
