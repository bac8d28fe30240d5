"""The values that cross the engine's boundary: plain, frozen, serialisable, torch-free."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass(frozen=True)
class Prediction:
    """One guess: its rank (1 = best), ImageNet or checkpoint class index, label, probability."""

    rank: int
    index: int
    label: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "index": self.index,
            "label": self.label,
            # strict JSON has no NaN: a damaged model's non-finite output becomes null
            "probability": round(self.probability, 6) if math.isfinite(self.probability) else None,
        }


@dataclass(frozen=True)
class ClassificationResult:
    """The outcome for one image: its predictions, or the error that stopped it."""

    path: str
    predictions: tuple[Prediction, ...] = ()
    error: str | None = None
    device: str = ""
    seconds: float = 0.0
    features: Any = field(default=None, repr=False, compare=False)
    """The image's pooled features (the 2048 values before `fc`, a float32 numpy array) when
    they were asked for (`classify_many(..., features=True)`); never in the records."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def top(self) -> Prediction | None:
        return self.predictions[0] if self.predictions else None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON record; the window exports the same."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "predictions": [p.to_dict() for p in self.predictions]}


@dataclass(frozen=True)
class DeviceInfo:
    """A device a user can pick: `id` goes to the engine, `name` is shown."""

    id: str
    name: str


@dataclass(frozen=True)
class ModelInfo:
    """What is loaded, for a status line: where the weights came from and on which device."""

    source: str
    num_classes: int
    device: str
    device_name: str
    labels: tuple[str, ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = ()  # what the user should know about the weights


# ---- the CLI's record formats, shared with the window's export ---------------------------------
CSV_HEADER = ("path", "rank", "index", "label", "probability", "error")


# File names on Linux are bytes; Python keeps those that are not UTF-8 as lone surrogates
# ("bad\udcff.jpg"), which no strict encoder writes. JSON escapes them ("\\udcff", which reads
# back to the same name); text for people shows the bytes ("bad\\xff.jpg").
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with the bytes of a non-UTF-8 file name shown as \\xNN, so any stream takes it."""
    if not _LONE_SURROGATE.search(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


# A cell a spreadsheet would take for a formula (OWASP "CSV injection"): a file named
# `=HYPERLINK(…).jpg` or a class named `+cmd|…`. Such a cell gets a leading `'`, which
# spreadsheets show as text and do not display; a cell that starts with `'` gets one too, so
# that `csv_cell_text` gives back exactly what was written.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(text: str) -> str:
    """A text cell that no spreadsheet runs as a formula (and no reader splits at a CR)."""
    text = csv_text_of(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text_of(text: str) -> str:
    """A name as CSV holds it: non-UTF-8 bytes as \\xNN, a carriage return as \\r (Python's csv
    writer leaves a lone CR unquoted, and readers then split the row there)."""
    return printable(text).replace("\r", "\\r")


def csv_cell_text(cell: str) -> str:
    """The text `csv_cell` was given."""
    return cell[1:] if cell.startswith("'") else cell


def csv_rows(result: ClassificationResult) -> list[list[Any]]:
    """One CSV row per prediction, or a single row carrying the error; text cells are safe to
    open in a spreadsheet (`csv_cell`)."""
    path = csv_cell(result.path)
    if result.error is not None:
        return [[path, "", "", "", "", csv_cell(result.error)]]
    return [
        [path, p.rank, p.index, csv_cell(p.label), _probability_text(p.probability), ""]
        for p in result.predictions
    ]


def _probability_text(value: float) -> str:
    return f"{value:.6f}" if math.isfinite(value) else ""


def csv_writer(out: TextIO) -> Callable[[ClassificationResult], None]:
    """Write the header to `out`; return a function that writes one result's rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    return lambda result: writer.writerows(csv_rows(result))


def json_line(result: ClassificationResult, ascii_only: bool = False) -> str:
    """The result as one line of `resnet-classify --format json`, newline included.

    Strict JSON whatever the names: lone surrogates are escaped, so the line encodes as UTF-8;
    `ascii_only` escapes every non-ASCII character, for a stream that takes nothing else.
    """
    text = json.dumps(result.to_dict(), ensure_ascii=ascii_only, allow_nan=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def record_writer(out: TextIO, fmt: str) -> Callable[[ClassificationResult], None]:
    """A function writing each result to `out` as `resnet-classify --format json|csv` does."""
    if fmt == "json":
        ascii_only = not _takes_unicode(out)
        return lambda result: out.write(json_line(result, ascii_only))
    if fmt == "csv":
        return csv_writer(out)
    raise ValueError(f"unknown record format {fmt!r}")


def _takes_unicode(out: TextIO) -> bool:
    encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("_", "-")
    return encoding.startswith("utf")
