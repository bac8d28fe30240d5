"""Progress on stderr for the command lines, drawn by tqdm, on a terminal only.

tqdm is imported when a bar is first drawn: a run whose stderr is not a terminal (a pipe, a
log file, a Ray worker) never imports it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from core.teach.taught_model import Progress


def _bar(leave: bool = False, **kw: Any) -> Any:
    from tqdm import tqdm

    return tqdm(file=sys.stderr, dynamic_ncols=True, leave=leave, **kw)


class ImagesBar:
    """Images classified so far, and how fast; cleared while a record is written to stdout."""

    def __init__(self, total: int) -> None:
        self.bar = _bar(total=total, unit="img")

    def clear(self) -> None:
        self.bar.clear()

    def advance(self) -> None:
        self.bar.update(1)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class TrainingBar:
    """`resnet-train`'s bar: loading, reading the images, then the epochs with accuracy."""

    STAGES: ClassVar[dict[str, str]] = {
        "loading": "loading the backbone",
        "features": "reading images",
        "training": "epochs",
        "refitting": "learning from every image, epochs",
    }

    def __init__(self) -> None:
        self.bar: Any = None
        self.stage = ""

    def __call__(self, p: Progress) -> None:
        if p.stage != self.stage:
            self.clear()
            self.stage = p.stage
            self.bar = _bar(total=p.total, desc=self.STAGES.get(p.stage, p.stage))
        self.bar.n = p.done
        if p.epoch is not None:
            self.bar.set_postfix_str(f"val accuracy {p.epoch.val_accuracy * 100:.1f}%", False)
        self.bar.refresh()

    def clear(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class DownloadBar:
    """The ImageNet weights' download: bytes so far of the total (when the server says it)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = _bar(
                total=total or None,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc="Downloading ResNet50 weights",
                leave=True,  # what was fetched stays on screen, as the lines after it do
            )
        self.bar.update(done - self.bar.n)
        if total and done >= total:
            self.bar.close()
