"""Where the files shipped beside the code are: `resources/` (icons, the sample photo, bundled
weights), beside the packages or inside a PyInstaller bundle. Imports nothing heavy: the window
asks on its UI thread."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """`resources/` beside the packages, or under the bundle's `_MEIPASS` when frozen."""
    base = getattr(sys, "_MEIPASS", None)
    return (
        Path(base) / "resources" if base else Path(__file__).resolve().parent.parent / "resources"
    )
