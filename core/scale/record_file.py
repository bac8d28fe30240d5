"""`--output FILE`: records written whole as they come, and a rerun that picks up where it stopped.

Each record goes to the file in one write and is flushed at once, so a run that is killed loses
at most the images in flight. Opening a file that already holds records reads the paths in it:
`remaining` drops them from the run, and new records are appended in the file's own format. A
record cut short by the kill (no final newline, or a table block without its blank line) is
removed first, and its image is classified again.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from core.errors import OutputFileError
from core.results import CSV_HEADER

log = logging.getLogger(__name__)

FORMATS = ("json", "csv", "table")
_CSV_HEADER_LINE = ",".join(CSV_HEADER)


def path_key(path: str | os.PathLike[str]) -> str:
    """How a path is matched against the file's records: absolute, normalised, from this folder."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


class RecordFile:
    """An output file of records, opened for appending.

    `format` is the file's own when it holds records (asking for another is an error), else the
    one asked for, else json. `recorded` and `failed` count the records already there.
    """

    def __init__(self, path: Path, fmt: str, done: set[str], failed: int, fresh: bool) -> None:
        self.path = path
        self.format = fmt
        self.done = done
        self.recorded = len(done)
        self.failed = failed
        try:
            self._file: TextIO = path.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            raise OutputFileError(f"Cannot write to {path}: {exc.strerror}.") from None
        if fresh and fmt == "csv":
            self._write(_CSV_HEADER_LINE + "\n")

    @classmethod
    def open(cls, path: str | os.PathLike[str], fmt: str | None = None) -> RecordFile:
        """Open `path` for a run, reading the records it holds (see the module docstring)."""
        path = Path(path)
        text = _read(path)
        found = _detect(text)
        if found and fmt and fmt != found:
            raise OutputFileError(
                f"{path} already holds {found} records; run with --format {found} to add to it, "
                "or pick another file."
            )
        fmt = found or fmt or "json"
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        keep, paths, failed = _parse(text, fmt, path) if found else (0, [], 0)
        if text and keep < len(text.encode("utf-8")):
            log.warning("%s: removed an incomplete last record; its image runs again", path)
            with path.open("r+b") as f:
                f.truncate(keep)
        return cls(path, fmt, {path_key(p) for p in paths}, failed, fresh=keep == 0)

    def remaining(self, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
        """The paths that have no record yet, each once, in the order given."""
        out: list[Path] = []
        seen = set(self.done)
        for p in paths:
            key = path_key(p)
            if key not in seen:
                seen.add(key)
                out.append(Path(p))
        return out

    def write(self, text: str) -> None:
        """Append one whole record (already rendered) and flush it."""
        self._write(text)

    def _write(self, text: str) -> None:
        try:
            self._file.write(text)
            self._file.flush()
        except OSError as exc:
            raise OutputFileError(f"Cannot write to {self.path}: {exc.strerror}.") from None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def csv_text(rows: Sequence[Sequence[object]]) -> str:
    """CSV rows as one string, so that a record's rows reach the file in one write."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _read(path: Path) -> str:
    if path.is_dir():
        raise OutputFileError(f"--output {path} is a folder; give a file name.")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise OutputFileError(
                f"Cannot write {path}: the folder {path.parent} does not exist."
            ) from None
        return ""
    except UnicodeDecodeError:
        raise OutputFileError(
            f"{path} is not a file of records (it is not UTF-8 text); pick another file."
        ) from None
    except OSError as exc:
        raise OutputFileError(f"Cannot read {path}: {exc.strerror}.") from None


def _detect(text: str) -> str | None:
    """The format of the records in `text` (perhaps cut short), or None when it is empty."""
    start = text.lstrip("\n")
    if not start:
        return None
    if start.startswith("{"):
        return "json"
    if start.startswith(_CSV_HEADER_LINE) or _CSV_HEADER_LINE.startswith(start):
        return "csv"
    return "table"


def _parse(text: str, fmt: str, path: Path) -> tuple[int, list[str], int]:
    """(bytes of whole records to keep, their paths, how many are errors)."""
    if fmt == "table":
        return _parse_table(text, path)
    keep = text.rfind("\n") + 1
    complete = text[:keep]
    paths: list[str] = []
    failed = 0
    if fmt == "json":
        for n, line in enumerate(complete.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                paths.append(record["path"])
            except (ValueError, KeyError, TypeError):
                raise OutputFileError(
                    f"{path} line {n} is not a record of resnet-classify; pick another file."
                ) from None
            failed += "error" in record
    else:
        rows = list(csv.reader(io.StringIO(complete)))
        if not rows or rows[0] != list(CSV_HEADER):
            return 0, [], 0  # the header itself was cut short: start the file again
        errors: set[str] = set()
        for n, row in enumerate(rows[1:], start=2):
            if len(row) != len(CSV_HEADER):
                raise OutputFileError(
                    f"{path} line {n} is not a row of resnet-classify's CSV; pick another file."
                )
            if not paths or paths[-1] != row[0]:
                paths.append(row[0])
            if row[5]:
                errors.add(row[0])
        failed = len(errors)
    return len(complete.encode("utf-8")), paths, failed


def _parse_table(text: str, path: Path) -> tuple[int, list[str], int]:
    """Table blocks: the path, then indented lines, then a blank line that closes the block."""
    end = text.rfind("\n\n") + 2 if "\n\n" in text else 0
    complete = text[:end]
    paths: list[str] = []
    failed = 0
    for block in complete.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if not lines[0]:
            continue
        if len(lines) < 2 or not all(line.startswith("  ") for line in lines[1:]):
            raise OutputFileError(
                f"{path} holds something other than resnet-classify's table; pick another file."
            )
        paths.append(lines[0])
        failed += lines[1].startswith("  error:")
    if not paths and text.strip():
        raise OutputFileError(
            f"{path} holds something other than resnet-classify's records; pick another file."
        )
    return len(complete.encode("utf-8")), paths, failed
