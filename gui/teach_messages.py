"""What the Teach dialog and its worker send each other across threads: frozen values with the
request id that asked for them, no widget and no tensor (as `gui/messages.py` is for the window)."""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

    from core import Misclassified, TrainingResult


@dataclasses.dataclass(frozen=True)
class FoundClass:
    """A class as the dialog lists it: name, image count, a strip of a few thumbnails."""

    name: str
    count: int
    strip: QImage


@dataclasses.dataclass(frozen=True)
class Scan:
    """The classes of a folder, and what may make a model taught from it less reliable."""

    folder: str
    classes: tuple[FoundClass, ...]  # counts without the files that cannot be read
    warnings: tuple[str, ...]
    unreadable: tuple[str, ...] = ()  # "cat/IMG_1.jpg: not an image…", left out of training


@dataclasses.dataclass(frozen=True)
class TrainRequest:
    """One training; `cancel` stops it at its next batch."""

    request_id: int
    folder: str
    backbone: str | None
    epochs: int
    fine_tune: bool
    augment: bool
    out_dir: str
    name: str = ""  # the checkpoint's file name, without .pth (default: the folder's name)
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event, compare=False)


@dataclasses.dataclass(frozen=True)
class Taught:
    """A finished training: the result without its weights, where they were saved, and the
    held-out images it got wrong as pictures."""

    result: TrainingResult  # state_dict emptied: no tensor leaves the worker's thread
    path: str
    wrong: tuple[tuple[Misclassified, QImage], ...]  # (what it got wrong, its picture)
