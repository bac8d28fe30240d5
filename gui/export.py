"""Export writes what the results table shows as `resnet-classify --format csv|json` would."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.results import ClassificationResult

FILTERS = ("CSV (*.csv)", "JSON Lines (*.jsonl *.json)")


def with_suffix(path: str, chosen_filter: str) -> str:
    """`path` with the extension of the filter chosen in the save dialog, if it has none."""
    if Path(path).suffix:
        return path
    return path + (".jsonl" if chosen_filter == FILTERS[1] else ".csv")


def write_results(path: str, results: Iterable[ClassificationResult]) -> int:
    """JSON lines for .json/.jsonl, else CSV; returns how many were written. Raises OSError."""
    from core.results import csv_writer, json_line

    as_json = Path(path).suffix.lower() in (".json", ".jsonl")
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        write = (lambda r: out.write(json_line(r))) if as_json else csv_writer(out)
        for result in results:
            write(result)
            count += 1
    return count
