"""A folder of class folders, as teaching reads it: one sub-folder of images per class.

Listing it opens no image and imports no torch; whether each image decodes is found out while
training. `warnings` says, before any training, which classes are too small or unbalanced.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.decode.files import is_image_path
from core.errors import ClassifierError

# A class below this many images gets a warning; so does a largest/smallest ratio above the next.
FEW_IMAGES = 10
FEW_LISTED = 5  # classes named one by one in the warning; more are counted
UNBALANCED_RATIO = 3.0


class TrainingDataError(ClassifierError):
    """The folder cannot be taught from: too few classes, or a class without usable images."""

    exit_code = 2


@dataclass(frozen=True)
class ClassFolder:
    """One class: its name (the sub-folder's) and its image files, in name order."""

    name: str
    images: tuple[Path, ...]

    @property
    def count(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class ClassFolders:
    """What a folder of class folders holds, before any image is decoded."""

    root: Path
    classes: tuple[ClassFolder, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def total(self) -> int:
        return sum(c.count for c in self.classes)

    def warnings(self) -> list[str]:
        """Sentences about classes too small or too unbalanced to learn well."""
        few = [c for c in self.classes if c.count < FEW_IMAGES]
        if len(few) > FEW_LISTED:  # one sentence for them all, not a line per class
            named = ", ".join(f"'{c.name}' ({c.count})" for c in few[:FEW_LISTED])
            out = [
                f"{len(few)} classes have fewer than {FEW_IMAGES} images ({named} and "
                f"{len(few) - FEW_LISTED} more): {FEW_IMAGES} or more per class give a more "
                "reliable model."
            ]
        else:
            out = [
                f"'{c.name}' has only {c.count} image{'s' if c.count != 1 else ''}: "
                f"{FEW_IMAGES} or more per class give a more reliable model."
                for c in few
            ]
        counts = [c.count for c in self.classes if c.count]
        if counts and max(counts) > UNBALANCED_RATIO * min(counts):
            big = max(self.classes, key=lambda c: c.count)
            small = min(self.classes, key=lambda c: c.count)
            out.append(
                f"The classes are unbalanced: '{big.name}' has {big.count} images, "
                f"'{small.name}' {small.count}. Training weighs them equally, but the "
                "small class is learnt from fewer examples."
            )
        return out


def scan_folder(root: str | os.PathLike[str]) -> ClassFolders:
    """List the class sub-folders of `root` and their images (by extension, any depth).

    Raises `TrainingDataError` when there are fewer than two classes or a class has no image.
    Hidden folders are skipped; whether each image decodes is found out while training.
    """
    root = Path(root)
    if not root.is_dir():
        raise TrainingDataError(f"{root} is not a folder.")
    subdirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name.lower(),
    )
    classes = []
    for sub in subdirs:
        images = sorted(
            (p for p in sub.rglob("*") if p.is_file() and is_image_path(p)),
            key=lambda p: str(p).lower(),
        )
        classes.append(ClassFolder(sub.name, tuple(images)))
    if len(classes) < 2:
        loose = any(p.is_file() and is_image_path(p) for p in root.iterdir())
        hint = (
            " The images must be in sub-folders, one per class (for example cats/ and dogs/)."
            if loose or not classes
            else ""
        )
        raise TrainingDataError(
            f"{root.name or root} has {len(classes)} class folder{'s' if len(classes) != 1 else ''}; "
            f"at least two are needed.{hint}"
        )
    empty = [c.name for c in classes if not c.images]
    if empty:
        raise TrainingDataError(
            f"The class folder{'s' if len(empty) > 1 else ''} {quoted_names(empty)} "
            f"{'have' if len(empty) > 1 else 'has'} no images."
        )
    return ClassFolders(root, tuple(classes))


def quoted_names(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)
