"""A class label as a folder name: Sort Into Folders and exported corrections both make one per
class (kept apart from `core.library.sorting`, which the window need not import to start)."""

from __future__ import annotations


def folder_name(label: str) -> str:
    """A label as a folder name on any system: no separators, no leading dot, not empty."""
    cleaned = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in label).strip()
    cleaned = cleaned.lstrip(".").rstrip(". ")
    return cleaned or "unnamed"
