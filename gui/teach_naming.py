"""Where taught models are kept and what they are called: after their classes, in one folder
named for the app (`~/.local/share/resnet-classifier/taught/` on Linux)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from gui.resources import ORGANIZATION

MAX_NAME = 60


def models_dir() -> Path:
    """The app's own data folder, `taught/` in it (AppDataLocation would repeat the app's
    name: organisation and application are both "resnet-classifier")."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home()) / ORGANIZATION / "taught"


def model_name(class_names: Sequence[str]) -> str:
    """ "cat-coffee-rocket", or "cat-coffee-rocket-and-497-more" for many classes."""
    names = [safe_name(n) for n in class_names if safe_name(n)]
    for shown in range(len(names), 0, -1):
        rest = len(names) - shown
        name = "-".join(names[:shown]) + (f"-and-{rest}-more" if rest else "")
        if len(name) <= MAX_NAME or shown == 1:
            return name[:MAX_NAME] if rest == 0 else name
    return "taught-model"


def safe_name(text: str) -> str:
    """`text` as a file name on every system: no separators, no reserved characters."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", text).strip(" .")
    return cleaned


def free_path(folder: str | Path, name: str) -> Path:
    """`folder/name.pth`, or `name 2.pth`, `name 3.pth`... where that is taken."""
    base = safe_name(name.removesuffix(".pth")) or "taught-model"
    path = Path(folder) / f"{base}.pth"
    n = 1
    while path.exists():
        n += 1
        path = Path(folder) / f"{base} {n}.pth"
    return path
