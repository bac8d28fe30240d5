"""How `resnet-classify` writes its records: as a table, JSON or CSV (progress: `progress`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from core.printable import printable as escaped
from core.results import ClassificationResult, csv_rows, json_line, record_writer

if TYPE_CHECKING:
    from core.scale.record_file import RecordFile


def writer_for(fmt: str, out: TextIO) -> Callable[[ClassificationResult], object]:
    """What writes each record to `out` in `fmt`: json, csv or table."""
    # Whatever the stream's encoding, a character it lacks is written escaped, never raised:
    # one odd name must not stop the run (JSON escapes on its own, see `record_writer`).
    if hasattr(out, "reconfigure"):
        out.reconfigure(errors="backslashreplace")
    if fmt in ("json", "csv"):
        return record_writer(out, fmt)
    # A file that failed goes to stderr: stdout keeps the predictions only.
    return lambda r: (out if r.ok else sys.stderr).write(format_table(r))


def format_table(result: ClassificationResult) -> str:
    """A readable block per image: path, then aligned rank, percentage, bar and label.

    Names are written with their control characters escaped (`core.printable`): a file named
    with ESC[2J or OSC 52 must not clear the terminal or write its clipboard.
    """
    lines = [escaped(result.path)]
    if result.error is not None:
        lines.append(f"  error: {escaped(result.error)}")
    else:
        for p in result.predictions:
            bar = "#" * round(p.probability * 20)
            lines.append(
                f"  {p.rank:>2}. {p.probability * 100:6.2f}%  {bar:<20}  {escaped(p.label)} ({p.index})"
            )
    return "\n".join(lines) + "\n\n"


def record_file_writer(record_file: RecordFile, fmt: str) -> Callable[[ClassificationResult], None]:
    """Each record rendered as on stdout, then written to the file whole and flushed."""
    from core.scale.record_file import csv_text

    if fmt == "json":
        return lambda r: record_file.write(json_line(r))
    if fmt == "csv":
        return lambda r: record_file.write(csv_text(csv_rows(r)))
    return lambda r: record_file.write(format_table(r))
