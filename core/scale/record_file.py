"""`--output FILE`: records written whole as they come, and a rerun that picks up where it stopped.

Each record goes to the file in one write and is flushed at once, so a run that is killed loses
at most the images in flight. Opening a file that already holds records reads the paths in it:
`remaining` drops them from the run, and new records are appended in the file's own format. A
record cut short by the kill (no final newline, or a table block without its blank line) is
removed first, and its image is classified again.

The file is locked while a run writes to it: a second run on the same file is refused rather
than writing every record twice. It is read a line at a time (a million records cost the paths,
not the file), and paths are matched as the format writes them, so a name that is not UTF-8
(written `caf\\xe9` in CSV and table) or holds control characters is found again.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from core.errors import OutputFileError
from core.printable import printable as escaped
from core.results import CSV_HEADER, csv_cell_text, csv_text_of

try:
    import fcntl
except ImportError:  # Windows: msvcrt's byte-range lock instead
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]

# Windows' locks are mandatory: the lock is taken on one byte far past any end of file, which no
# one reads or writes, so the file itself stays readable (the run reads it back to resume).
_WINDOWS_LOCK_OFFSET = 1 << 40
# What a lock held by another process fails with: flock's EAGAIN/EWOULDBLOCK, msvcrt's EACCES
# or EDEADLOCK (36 on Windows).
_HELD = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, getattr(errno, "EDEADLOCK", errno.EDEADLK)}

log = logging.getLogger(__name__)

FORMATS = ("json", "csv", "table")
_CSV_HEADER_LINE = ",".join(CSV_HEADER)
# How each format writes a path: what `remaining` compares with what the file holds.
_AS_WRITTEN: dict[str, Callable[[str], str]] = {
    "json": lambda p: p,
    "csv": csv_text_of,
    "table": escaped,
}

__all__ = ["FORMATS", "RecordFile", "csv_text", "path_key"]


def path_key(path: str | os.PathLike[str]) -> str:
    """How a path is matched against the file's records: absolute, normalised, from this folder."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


class RecordFile:
    """An output file of records, opened for appending and locked while open.

    `format` is the file's own when it holds records (asking for another is an error), else the
    one asked for, else json. `recorded` and `failed` count the records already there.
    """

    def __init__(self, path: Path, handle: BinaryIO, fmt: str, done: set[str], failed: int) -> None:
        self.path = path
        self.format = fmt
        self.done = done
        self.recorded = len(done)
        self.failed = failed
        self._file = handle

    @classmethod
    def open(cls, path: str | os.PathLike[str], fmt: str | None = None) -> RecordFile:
        """Open `path` for a run, reading the records it holds (see the module docstring)."""
        path = Path(path)
        handle = _open_locked(path)
        try:
            found = _detect(handle, path)
            if found and fmt and fmt != found:
                raise OutputFileError(
                    f"{path} already holds {found} records; run with --format {found} to add to "
                    "it, or pick another file."
                )
            fmt = found or fmt or "json"
            if fmt not in FORMATS:
                raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
            handle.seek(0)
            keep, paths, failed = _parse(handle, fmt, path) if found else (0, set(), 0)
            size = handle.seek(0, os.SEEK_END)
            if keep < size:
                if found:
                    log.warning("%s: removed an incomplete last record; its image runs again", path)
                handle.truncate(keep)
            out = cls(path, handle, fmt, paths, failed)
            if keep == 0 and fmt == "csv":
                out.write(_CSV_HEADER_LINE + "\n")
            return out
        except BaseException:
            handle.close()
            raise

    def remaining(self, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
        """The paths that have no record yet, each once, in the order given."""
        as_written = _AS_WRITTEN[self.format]
        out: list[Path] = []
        seen = set(self.done)
        for p in paths:
            key = path_key(as_written(os.fspath(p)))
            if key not in seen:
                seen.add(key)
                out.append(Path(p))
        return out

    def write(self, text: str) -> None:
        """Append one whole record (already rendered) and flush it."""
        try:
            self._file.write(text.encode("utf-8", "surrogateescape"))
            self._file.flush()
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def __enter__(self) -> RecordFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def csv_text(rows: Sequence[Sequence[object]]) -> str:
    """CSV rows as one string, so that a record's rows reach the file in one write."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _open_locked(path: Path) -> BinaryIO:
    if path.is_dir():
        raise OutputFileError(f"--output {path} is a folder; give a file name.")
    if not path.parent.is_dir():
        raise OutputFileError(f"Cannot write {path}: the folder {path.parent} does not exist.")
    try:
        handle = path.open("a+b")
    except OSError as exc:
        raise OutputFileError(f"Cannot write to {path}: {exc.strerror}.") from None
    try:
        _lock(handle)
    except OSError as exc:
        if exc.errno in _HELD:
            handle.close()
            raise OutputFileError(
                f"Another run is writing to {path}; wait for it to end, or pick another file."
            ) from None
        log.info("cannot lock %s (%s): going on without", path, exc)
    return handle


def _lock(handle: BinaryIO) -> None:
    """Hold the file against a second run (released when the handle closes)."""
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    elif msvcrt is not None:
        position = handle.tell()
        handle.seek(_WINDOWS_LOCK_OFFSET)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        finally:
            handle.seek(position)


def _write_error(path: Path, exc: OSError) -> OutputFileError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputFileError(
            f"No space left to write to {path}: the records so far are kept; free some space and "
            "run the same command again to go on."
        )
    return OutputFileError(f"Cannot write to {path}: {exc.strerror or exc}.")


def _lines(handle: BinaryIO, path: Path) -> Iterator[tuple[int, str]]:
    """(offset after the line, line) for each whole line; a last line without its newline is
    left out (a record cut short)."""
    offset = 0
    for raw in handle:
        if not raw.endswith(b"\n"):
            return
        offset += len(raw)
        try:
            yield offset, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise OutputFileError(
                f"{path} is not a file of records (it is not UTF-8 text); pick another file."
            ) from None


def _detect(handle: BinaryIO, path: Path) -> str | None:
    """The format of the records in the file (perhaps cut short), or None when it is empty."""
    handle.seek(0)
    start = handle.read(4096).lstrip(b"\n")
    if not start:
        return None
    if start.startswith(b"{"):
        return "json"
    head = start.decode("utf-8", "replace")
    if head.startswith(_CSV_HEADER_LINE) or _CSV_HEADER_LINE.startswith(head):
        return "csv"
    return "table"


def _parse(handle: BinaryIO, fmt: str, path: Path) -> tuple[int, set[str], int]:
    """(bytes of whole records to keep, their path keys, how many are errors)."""
    if fmt == "table":
        return _parse_table(handle, path)
    if fmt == "json":
        return _parse_json(handle, path)
    return _parse_csv(handle, path)


def _not_a_record(path: Path, n: int, what: str = "a record") -> OutputFileError:
    return OutputFileError(f"{path} line {n} is not {what} of resnet-classify; pick another file.")


def _parse_json(handle: BinaryIO, path: Path) -> tuple[int, set[str], int]:
    keep, failed = 0, 0
    keys: set[str] = set()
    for n, (offset, line) in enumerate(_lines(handle, path), start=1):
        keep = offset
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise _not_a_record(path, n) from None
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            raise _not_a_record(path, n)
        keys.add(path_key(record["path"]))
        failed += "error" in record
    return keep, keys, failed


def _parse_csv(handle: BinaryIO, path: Path) -> tuple[int, set[str], int]:
    keep = 0
    keep_at = [0]  # the end of the last line the reader took

    def text() -> Iterator[str]:
        for offset, line in _lines(handle, path):
            keep_at[0] = offset
            yield line

    reader = csv.reader(text())
    keys: set[str] = set()
    errors: set[str] = set()
    try:
        header = next(reader, None)
        if header != list(CSV_HEADER):
            return 0, set(), 0  # the header itself was cut short: start the file again
        keep = keep_at[0]
        for row in reader:
            if len(row) != len(CSV_HEADER):
                raise OutputFileError(
                    f"{path} line {reader.line_num} is not a row of resnet-classify's CSV; "
                    "pick another file."
                )
            key = path_key(csv_cell_text(row[0]))
            keys.add(key)
            if row[5]:
                errors.add(key)
            keep = keep_at[0]
    except csv.Error:  # a quoted name cut short at the end: that record runs again
        pass
    return keep, keys, len(errors)


def _parse_table(handle: BinaryIO, path: Path) -> tuple[int, set[str], int]:
    """Table blocks: the path, then indented lines, then a blank line that closes the block."""
    keep, failed = 0, 0
    keys: set[str] = set()
    block: list[str] = []
    for offset, line in _lines(handle, path):
        line = line.rstrip("\n")
        if line:
            block.append(line)
            continue
        if not block:
            keep = offset
            continue
        if len(block) < 2 or not all(b.startswith("  ") for b in block[1:]):
            raise OutputFileError(
                f"{path} holds something other than resnet-classify's table; pick another file."
            )
        keys.add(path_key(block[0]))
        failed += block[1].startswith("  error:")
        block = []
        keep = offset
    if not keys and (block or keep):
        raise OutputFileError(
            f"{path} holds something other than resnet-classify's records; pick another file."
        )
    return keep, keys, failed
