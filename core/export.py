"""Saving results to a file, atomically: a failed save never costs the previous file.

The records are `resnet-classify --format json|csv`'s (`core.results`). They go to a temporary
file in the same folder, are flushed and synced, then `os.replace` puts them in place: on a full
disk or any other failure the file that was there before is unchanged, and the caller hears why.
"""

from __future__ import annotations

import contextlib
import os
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
            os.chmod(tmp, _mode_for(path))
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


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, or the usual rw-r--r-- for a new one."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o644


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (not on Windows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _error(path: Path, exc: BaseException) -> ExportError:
    reason = getattr(exc, "strerror", None) or str(exc)
    kept = " The previous file is unchanged." if path.exists() else ""
    return ExportError(f"Could not save the results to {printable(path.name)}: {reason}.{kept}")
