"""The export dialog's file types; `core.export.write_results` writes the file atomically."""

from __future__ import annotations

from pathlib import Path

FILTERS = ("CSV (*.csv)", "JSON Lines (*.jsonl *.json)")


def with_suffix(path: str, chosen_filter: str) -> str:
    """`path` with the extension of the filter chosen in the save dialog, if it has none."""
    if Path(path).suffix:
        return path
    return path + (".jsonl" if chosen_filter == FILTERS[1] else ".csv")
