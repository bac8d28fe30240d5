"""Which files of a folder of class folders will not be read, found before training.

Only each file's header is opened (Pillow identifies the format and size without decoding), so
a folder of thousands of photos is probed in about a second; a file that passes may still fail
to decode while training, and is then listed with the training's result.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from core.decode.images import open_regular_file  # also registers the HEIC/AVIF openers
from core.errors import ClassifierError


def unreadable_images(paths: Iterable[Path]) -> dict[Path, str]:
    """The files whose header Pillow cannot read, each with why, in words."""
    found: dict[Path, str] = {}
    for path in paths:
        try:
            with open_regular_file(path) as fp, Image.open(fp) as img:
                img.size  # noqa: B018 (the header is read by now)
        except UnidentifiedImageError:
            found[path] = "not an image, or a format that cannot be read"
        except ClassifierError as exc:
            found[path] = exc.message.removeprefix(f"{path.name}: ").rstrip(".")
        except OSError as exc:
            found[path] = exc.strerror or "cannot be read"
        except Exception as exc:  # a hostile header: whatever Pillow raises
            found[path] = f"cannot be read ({type(exc).__name__})"
    return found
