"""Corrections a person made to the model's answers, kept per folder, and what teaching needs
of them.

Each folder's corrections live in `.resnet-corrections.json` inside it (photo file name ->
the right class), so they survive restarts and travel with the folder. They can be exported as
a folder of class folders, the shape teaching reads; `teaching_folder` adds the examples a
taught model was trained on, when its checkpoint says where they are and they are still there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from core.errors import ClassifierError
from core.library.folder_names import folder_name

STORE_NAME = ".resnet-corrections.json"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic"}


class CorrectionsError(ClassifierError):
    """The corrections could not be saved or exported."""

    exit_code = 1


class CorrectionStore:
    """The corrections of one folder's photos."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / STORE_NAME
        self._labels: dict[str, str] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                labels = data.get("corrections", {})
                self._labels = {str(k): str(v) for k, v in labels.items() if str(v).strip()}
        except (OSError, ValueError, AttributeError):
            pass  # none yet, or not ours: start empty, and overwrite it only on a correction

    def get(self, photo: str | os.PathLike[str]) -> str | None:
        return self._labels.get(Path(photo).name) if self._owns(photo) else None

    def set(self, photo: str | os.PathLike[str], label: str) -> None:
        """Remember that `photo` is `label` (saved at once)."""
        label = label.strip()
        if not label:
            raise CorrectionsError("A class name cannot be empty.")
        self._labels[Path(photo).name] = label
        self._save()

    def remove(self, photo: str | os.PathLike[str]) -> None:
        if self._labels.pop(Path(photo).name, None) is not None:
            self._save()

    def items(self) -> list[tuple[Path, str]]:
        """(photo path, class) of each correction whose photo is still there."""
        return [
            (self.folder / name, label)
            for name, label in sorted(self._labels.items())
            if (self.folder / name).is_file()
        ]

    def __len__(self) -> int:
        return len(self._labels)

    def _owns(self, photo: str | os.PathLike[str]) -> bool:
        return Path(photo).parent.resolve() == self.folder.resolve()

    def _save(self) -> None:
        text = json.dumps({"corrections": self._labels}, indent=1, ensure_ascii=False)
        try:
            fd, tmp = tempfile.mkstemp(prefix=".corrections-", dir=self.folder)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
            raise CorrectionsError(
                f"The correction could not be saved in {self.folder}: {exc.strerror or exc}."
            ) from None


def stores_for(photos: Iterable[str | os.PathLike[str]]) -> dict[Path, CorrectionStore]:
    """One store per folder of `photos`."""
    return {folder: CorrectionStore(folder) for folder in {Path(p).parent for p in photos}}


def export_class_folders(
    corrections: Iterable[tuple[Path, str]], out: str | os.PathLike[str], link: bool = False
) -> dict[str, int]:
    """`out/<class>/<photo>` for each correction: copies (or symlinks, for teaching); the count
    per class. Names that collide get a numbered suffix."""
    out = Path(out)
    counts: dict[str, int] = {}
    try:
        for photo, label in corrections:
            folder = out / folder_name(label)
            folder.mkdir(parents=True, exist_ok=True)
            _place(photo, _free(folder, photo.name), link)
            counts[label] = counts.get(label, 0) + 1
    except OSError as exc:
        raise CorrectionsError(f"Cannot export into {out}: {exc.strerror or exc}.") from None
    return counts


def teaching_folder(
    corrections: Iterable[tuple[Path, str]], examples: str | None, dest: str | os.PathLike[str]
) -> dict[str, int]:
    """A folder of class folders to teach from: the corrected photos, plus each class folder
    of `examples` (what a taught model learnt from) when it is there. Links, not copies."""
    counts = export_class_folders(corrections, dest, link=True)
    if examples and Path(examples).is_dir():
        for class_dir in sorted(p for p in Path(examples).iterdir() if p.is_dir()):
            images = [
                p
                for p in class_dir.rglob("*")
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            ]
            more = export_class_folders([(p, class_dir.name) for p in images], dest, link=True)
            for label, n in more.items():
                counts[label] = counts.get(label, 0) + n
    return counts


def _free(folder: Path, name: str) -> Path:
    path, stem, suffix, n = folder / name, Path(name).stem, Path(name).suffix, 1
    while path.exists() or path.is_symlink():
        n += 1
        path = folder / f"{stem}-{n}{suffix}"
    return path


def _place(src: Path, dst: Path, link: bool) -> None:
    if link:
        try:
            os.symlink(src.resolve(), dst)
            return
        except OSError:
            pass  # a file system without links: copy
    shutil.copy2(src, dst)
