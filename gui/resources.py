"""Files shipped beside the code in `resources/` (or inside a PyInstaller bundle)."""

from __future__ import annotations

import sys
from pathlib import Path

APP_NAME = "ResNet Classifier"
ORGANIZATION = "resnet-classifier"
SAMPLE_IMAGE = "sample.jpg"
ICON = "icon.png"


def resources_dir() -> Path:
    """`resources/` beside the packages, or under the bundle's `_MEIPASS` when frozen."""
    base = getattr(sys, "_MEIPASS", None)
    return (
        Path(base) / "resources" if base else Path(__file__).resolve().parent.parent / "resources"
    )


def resource_path(name: str) -> Path:
    return resources_dir() / name
