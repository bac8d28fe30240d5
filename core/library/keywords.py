"""Predictions written into the photos' metadata as XMP keywords, where photo managers read them.

Each photo's predictions at or above a confidence become `Xmp.dc.subject` keywords (the flat
list every tool shows) and `Xmp.lr.hierarchicalSubject` entries under one parent,
`ResNet Classifier|<label>` (the tree digiKam, darktable and Lightroom show). They go into an
XMP sidecar named `photo.jpg.xmp` by default, the name digiKam and darktable look for (and
write) first, so two photos `a.jpg` and `a.raw` never share one; or into the file itself.

Keywords someone else wrote stay: ours are told apart by the parent of their hierarchical
entry, and a rerun replaces those alone. The metadata goes through exiv2 (the library digiKam
uses, through its PyPI binding, whose wheel carries the library): rewriting a file's
metadata never touches its compressed pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.results import ClassificationResult

log = logging.getLogger(__name__)

PARENT = "ResNet Classifier"
SUBJECT = "Xmp.dc.subject"
HIERARCHY = "Xmp.lr.hierarchicalSubject"
MODES = ("sidecar", "embed")


@dataclass(frozen=True)
class KeywordRecord:
    """What happened to one photo: the keywords written, or why none were (`error`)."""

    path: str
    keywords: tuple[str, ...] = ()
    target: str = ""  # the file written: the sidecar or the photo
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"path": self.path, "keywords_error": self.error}
        return {"path": self.path, "keywords": list(self.keywords), "written_to": self.target}


def sidecar_path(photo: str | Path) -> Path:
    """`photo.jpg.xmp`: the sidecar name digiKam and darktable look for first."""
    photo = Path(photo)
    return photo.with_name(photo.name + ".xmp")


def keywords_for(result: ClassificationResult, min_confidence: float) -> tuple[str, ...]:
    """The labels of `result`'s predictions at or above `min_confidence`, best first.

    Empty when the photo failed or the model is unsure of everything (nothing is written).
    """
    if not result.ok:
        return ()
    return tuple(p.label for p in result.predictions if p.probability >= min_confidence)


@dataclass(frozen=True)
class KeywordPlan:
    """What a run would write: the photos that get keywords, and how many keywords in all."""

    photos: int
    keywords: int
    unsure: int  # classified, but nothing at or above the threshold
    failed: int

    def describe(self) -> str:
        return (
            f"{self.photos} photos get {self.keywords} keywords; "
            f"{self.unsure} unsure and {self.failed} failed are left alone"
        )


def plan_keywords(results: Iterable[ClassificationResult], min_confidence: float) -> KeywordPlan:
    """Count what `write_keywords` would write, without touching a file (the window's preview)."""
    photos = keywords = unsure = failed = 0
    for result in results:
        if not result.ok:
            failed += 1
            continue
        words = keywords_for(result, min_confidence)
        if words:
            photos += 1
            keywords += len(words)
        else:
            unsure += 1
    return KeywordPlan(photos, keywords, unsure, failed)


def write_keywords(
    results: Iterable[ClassificationResult],
    min_confidence: float,
    mode: str = "sidecar",
    progress: Callable[[int], None] | None = None,
) -> Iterator[KeywordRecord]:
    """Write each confident result's keywords; one record per photo that had some to write.

    A photo that cannot be written gets a record with `error`; the others go on.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    for done, result in enumerate(results, 1):
        words = keywords_for(result, min_confidence)
        if words:
            yield write_one(result.path, words, mode)
        if progress is not None:
            progress(done)


def write_one(photo: str, words: Iterable[str], mode: str = "sidecar") -> KeywordRecord:
    """Merge `words` into `photo`'s keywords (sidecar or embedded), replacing only ours."""
    words = tuple(dict.fromkeys(words))
    target = sidecar_path(photo) if mode == "sidecar" else Path(photo)
    try:
        merge_into(target, words, create=mode == "sidecar")
    except _exiv2_errors() as exc:
        reason = exc.args[-1] if exc.args and isinstance(exc.args[-1], str) else str(exc)
        return KeywordRecord(photo, error=f"{Path(photo).name}: keywords not written: {reason}")
    return KeywordRecord(photo, words, str(target))


def read_keywords(target: str | Path) -> tuple[list[str], list[str]]:
    """The flat and hierarchical keywords in `target` (a sidecar or a photo)."""
    exiv2 = _exiv2()
    image = exiv2.ImageFactory.open(str(target))
    image.readMetadata()
    xmp = image.xmpData()
    return _bag(xmp, SUBJECT), _bag(xmp, HIERARCHY)


def merge_into(target: Path, words: tuple[str, ...], *, create: bool) -> None:
    """Replace our keywords in `target` by `words`; keep every other keyword as it was."""
    exiv2 = _exiv2()
    if create and not target.exists():
        image = exiv2.ImageFactory.create(exiv2.ImageType.xmp, str(target))
        xmp = exiv2.XmpData()
        subjects: list[str] = []
        tree: list[str] = []
    else:
        image = exiv2.ImageFactory.open(str(target))
        image.readMetadata()
        xmp = image.xmpData()
        subjects, tree = _bag(xmp, SUBJECT), _bag(xmp, HIERARCHY)
    prefix = PARENT + "|"
    ours = {entry[len(prefix) :] for entry in tree if entry.startswith(prefix)}
    subjects = [s for s in subjects if s not in ours]
    tree = [t for t in tree if not t.startswith(prefix)]
    subjects += [w for w in words if w not in subjects]
    tree += [prefix + w for w in words]
    _set_bag(xmp, SUBJECT, subjects)
    _set_bag(xmp, HIERARCHY, tree)
    image.setXmpData(xmp)
    image.writeMetadata()


def _bag(xmp: Any, key: str) -> list[str]:
    exiv2 = _exiv2()
    found = xmp.findKey(exiv2.XmpKey(key))
    if found == xmp.end():
        return []
    return [found.toString(i) for i in range(found.count())]


def _set_bag(xmp: Any, key: str, values: list[str]) -> None:
    exiv2 = _exiv2()
    found = xmp.findKey(exiv2.XmpKey(key))
    if found != xmp.end():
        xmp.erase(found)
    if not values:
        return
    bag = exiv2.XmpArrayValue(exiv2.TypeId.xmpBag)
    for value in values:
        bag.read(value)
    xmp.add(exiv2.XmpKey(key), bag)


def _exiv2() -> Any:
    """The binding, imported when first needed (it loads a native library)."""
    import exiv2

    if not _READY:
        exiv2.XmpParser.initialize()
        # exiv2 prints its warnings to stderr; each photo's record says what went wrong instead
        exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
        _READY.append(True)
    return exiv2


_READY: list[bool] = []


def _exiv2_errors() -> tuple[type[BaseException], ...]:
    return (_exiv2().Exiv2Error, OSError, UnicodeError, ValueError)
