"""Files shipped beside the code in `resources/` (or inside a PyInstaller bundle)."""

from __future__ import annotations

from pathlib import Path

from core import resources_dir

APP_NAME = "ResNet Classifier"
ORGANIZATION = "resnet-classifier"
SAMPLE_IMAGE = "sample.jpg"
ICON = "icon.png"


def resource_path(name: str) -> Path:
    return resources_dir() / name
