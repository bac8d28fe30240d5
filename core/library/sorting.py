"""Photos sorted into one folder per top-1 label, with a journal that undoes it exactly.

Photos under the confidence threshold, and those that failed, go to `unsure/` (its log says
why). A name that is taken gets a numbered suffix (`name-2.jpg`), never an overwrite, and a
photo's XMP sidecars travel with it. Every run writes `sort-journal-<time>.jsonl` into the
output folder: each step is written and flushed to disk before it is taken, so `undo` puts
every file back (checked by its SHA-256) even after a run that was killed half-way. A move
within one file system is a rename; across file systems it is copy, fsync, verify, delete.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ClassifierError
from core.library.file_moves import copy_verified, part_path, sha256_of
from core.library.folder_names import folder_name
from core.library.keywords import sidecar_path
from core.printable import percent
from core.results import ClassificationResult

UNSURE = "unsure"
UNSURE_LOG = "unsure-log.txt"
MODES = ("copy", "move")
JOURNAL_KIND = "resnet-classifier sort journal"


class SortError(ClassifierError):
    """The output folder cannot be used, or a journal cannot be read."""

    exit_code = 2


@dataclass(frozen=True)
class Placement:
    """One file to copy or move: a photo, or a sidecar travelling with it."""

    src: str
    dst: str
    folder: str  # the class folder's name (or "unsure")
    reason: str = ""  # why a photo is unsure


@dataclass(frozen=True)
class SortPlan:
    """Where each photo goes; nothing is touched until `execute`."""

    out: str
    mode: str
    placements: tuple[Placement, ...]

    def folders(self) -> dict[str, int]:
        """Photos per folder (sidecars not counted), largest first."""
        counts: dict[str, int] = {}
        for p in self.placements:
            if not p.src.endswith(".xmp"):
                counts[p.folder] = counts.get(p.folder, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def lines(self) -> list[str]:
        """`--dry-run`: one line per file, "src -> dst"."""
        verb = "copy" if self.mode == "copy" else "move"
        return [f"{verb} {p.src} -> {p.dst}" for p in self.placements]


@dataclass
class SortReport:
    journal: str
    done: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass
class UndoReport:
    restored: int = 0
    problems: list[str] = field(default_factory=list)


def plan_sort(
    results: Iterable[ClassificationResult],
    out: str | os.PathLike[str],
    min_confidence: float = 0.0,
    mode: str = "copy",
) -> SortPlan:
    """Where each result's photo goes: its top-1 label's folder, or `unsure/`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    out = Path(out)
    taken: dict[str, set[str]] = {}
    placements: list[Placement] = []
    for result in results:
        src = Path(result.path)
        if not src.is_file():
            continue  # pasted bytes, or gone since it was classified
        top = result.top
        if not result.ok or top is None:
            folder, reason = UNSURE, f"failed: {result.error}"
        elif top.probability < min_confidence:
            folder = UNSURE
            reason = f"{top.label} at {top.probability:.1%}, under {percent(min_confidence)}"
        else:
            folder, reason = folder_name(top.label), ""
        names = taken.setdefault(folder, _existing(out / folder))
        dst = out / folder / _free_name(src.name, names)
        placements.append(Placement(str(src), str(dst), folder, reason))
        for side, side_dst in _sidecars(src, dst):
            names.add(side_dst.name.lower())
            placements.append(Placement(str(side), str(side_dst), folder))
    return SortPlan(str(out), mode, tuple(placements))


def _existing(folder: Path) -> set[str]:
    try:
        return {p.name.lower() for p in folder.iterdir()}
    except OSError:
        return set()


def _free_name(name: str, taken: set[str]) -> str:
    """`name`, or `stem-2.ext`, `stem-3.ext`... the first not taken (case-insensitively, for
    the systems that ignore case); its sidecar names are taken with it."""
    path = Path(name)
    candidate, n = name, 1
    while {candidate.lower(), candidate.lower() + ".xmp"} & taken:
        n += 1
        candidate = f"{path.stem}-{n}{path.suffix}"
    taken.add(candidate.lower())
    return candidate


def _sidecars(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """`photo.jpg.xmp` (digiKam, darktable) and `photo.xmp` (Lightroom), where they exist."""
    found = []
    if sidecar_path(src).is_file():
        found.append((sidecar_path(src), sidecar_path(dst)))
    plain = src.with_suffix(".xmp")
    if src.suffix.lower() != ".xmp" and plain.is_file():
        found.append((plain, dst.with_suffix(".xmp")))
    return found


# ---- doing it, with the journal -------------------------------------------------------------
def execute(plan: SortPlan, progress: Callable[[int, int], None] | None = None) -> SortReport:
    """Carry out `plan`, journalled; a file that cannot be placed is reported and skipped."""
    out = Path(plan.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        journal_path = _new_journal(out)
        journal = open(journal_path, "x", encoding="utf-8")  # noqa: SIM115 - held for the run
    except OSError as exc:
        raise SortError(f"Cannot write into {out}: {exc.strerror or exc}.") from None
    report = SortReport(str(journal_path))
    with journal:
        _log(journal, {"kind": JOURNAL_KIND, "version": 1, "mode": plan.mode, "out": str(out)})
        made: set[Path] = set()
        for n, p in enumerate(plan.placements, 1):
            try:
                _place(p, plan.mode, journal, made)
                report.done += 1
            except OSError as exc:
                report.failed.append(f"{p.src}: {exc.strerror or exc}")
            if progress is not None:
                progress(n, len(plan.placements))
        _write_unsure_log(plan, out / UNSURE / UNSURE_LOG, journal, made)
    return report


def _new_journal(out: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = out / f"sort-journal-{stamp}.jsonl", 1
    while path.exists():
        n += 1
        path = out / f"sort-journal-{stamp}-{n}.jsonl"
    return path


def _log(journal: Any, entry: dict[str, Any], durable: bool = True) -> None:
    """One journal line, on disk before the step it announces is taken. A "done" line need
    not be: undo checks every file by its hash whether or not the line made it."""
    journal.write(json.dumps(entry) + "\n")
    journal.flush()
    if durable:
        os.fsync(journal.fileno())


def _make_folder(folder: Path, journal: Any, made: set[Path]) -> None:
    if folder in made or folder.is_dir():
        return
    _log(journal, {"op": "mkdir", "path": str(folder)})
    folder.mkdir(parents=True)
    made.add(folder)


def _place(p: Placement, mode: str, journal: Any, made: set[Path]) -> None:
    src, dst = Path(p.src), Path(p.dst)
    _make_folder(dst.parent, journal, made)
    if dst.exists():  # someone wrote there since the plan was made
        raise FileExistsError(17, f"{dst} appeared since the plan was made")
    digest = sha256_of(src)
    _log(journal, {"op": mode, "src": str(src), "dst": str(dst), "sha256": digest})
    if mode == "move" and _same_file_system(src, dst.parent):
        os.rename(src, dst)
    else:
        copy_verified(src, dst, digest)
        if mode == "move":
            src.unlink()
    _log(journal, {"op": "done", "dst": str(dst)}, durable=False)


def _same_file_system(src: Path, folder: Path) -> bool:
    return os.stat(src).st_dev == os.stat(folder).st_dev


def _write_unsure_log(plan: SortPlan, path: Path, journal: Any, made: set[Path]) -> None:
    lines = [f"{Path(p.dst).name}\t{p.reason}\n" for p in plan.placements if p.reason]
    if not lines:
        return
    _make_folder(path.parent, journal, made)
    _log(journal, {"op": "log", "path": str(path)})
    with open(path, "a", encoding="utf-8", errors="backslashreplace") as f:
        f.writelines(lines)


# ---- undo -----------------------------------------------------------------------------------
def read_journal(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The steps of a sort journal; a last line cut short by a kill is ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SortError(f"Cannot read the journal {path}: {exc.strerror or exc}.") from None
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not entries or entries[0].get("kind") != JOURNAL_KIND:
        raise SortError(f"{path} is not a sort journal of this app.")
    return entries


def undo(journal: str | os.PathLike[str]) -> UndoReport:
    """Put every file of the journal's run back where it was, newest step first.

    A file is moved back (or its copy deleted) only when its content hash is the one the
    journal recorded; otherwise it is left and reported. Running it twice does no harm.
    """
    entries = read_journal(journal)
    report = UndoReport()
    for entry in reversed(entries[1:]):
        op = entry.get("op")
        if op in MODES:
            _undo_file(entry, report)
        elif op == "log":
            Path(entry["path"]).unlink(missing_ok=True)
        elif op == "mkdir":
            # not empty (something else is in it now), or gone already: left as it is
            with contextlib.suppress(OSError):
                Path(entry["path"]).rmdir()
    return report


def _undo_file(entry: dict[str, Any], report: UndoReport) -> None:
    src, dst, digest = Path(entry["src"]), Path(entry["dst"]), entry["sha256"]
    part_path(dst).unlink(missing_ok=True)  # a copy the kill cut short
    if not dst.exists():
        if not src.exists():
            report.problems.append(f"{src}: neither it nor {dst.name} is there any more")
        return
    if sha256_of(dst) != digest:
        report.problems.append(f"{dst}: changed since it was sorted; left where it is")
        return
    if src.exists():  # a copy, or a move cut short before the original was deleted
        if sha256_of(src) == digest:
            dst.unlink()
            report.restored += 1
        else:
            report.problems.append(f"{src}: another file has that name now; {dst} left")
        return
    src.parent.mkdir(parents=True, exist_ok=True)
    if _same_file_system(dst, src.parent):
        os.rename(dst, src)
    else:
        copy_verified(dst, src, digest)
        dst.unlink()
    report.restored += 1
