"""`resnet-classify`'s photo-library options: keywords, sorting, undo, the unsure threshold,
near-duplicates. The classifying run feeds `LibraryRun` its results as they come; what needs
every result (the sort, the duplicate groups) happens after the last one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from core.errors import ClassifierError
from core.results import ClassificationResult, printable

DEFAULT_MIN_CONFIDENCE = 0.5  # core.library.unsure.DEFAULT_THRESHOLD, without importing it
DONE = {"copy": "copied", "move": "moved"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("photo library (README: Photo library)")
    g.add_argument(
        "--min-confidence",
        type=confidence,
        metavar="P",
        help="a top-1 under P (0-1, or a percentage such as 60%%) is unsure: no keywords, "
        f"sorted into unsure/, counted at the end (default with --write-keywords and "
        f"--sort-into: {DEFAULT_MIN_CONFIDENCE:g})",
    )
    g.add_argument(
        "--write-keywords",
        nargs="?",
        const="sidecar",
        choices=["sidecar", "embed"],
        help="write each photo's predictions at or above --min-confidence as XMP keywords: into "
        "a photo.jpg.xmp sidecar (default) or embedded in the photo; others' keywords stay",
    )
    g.add_argument(
        "--sort-into",
        metavar="OUT",
        help="copy (or --move) each photo into OUT/<top-1 label>/, unsure ones into "
        "OUT/unsure/; writes OUT/sort-journal-*.jsonl for --undo",
    )
    how = g.add_mutually_exclusive_group()
    how.add_argument("--copy", action="store_true", help="with --sort-into: copy (default)")
    how.add_argument("--move", action="store_true", help="with --sort-into: move the photos")
    g.add_argument(
        "--dry-run", action="store_true", help="with --sort-into: print the plan, touch nothing"
    )
    g.add_argument(
        "--duplicates",
        action="store_true",
        help="print groups of near-duplicates (resized, recompressed, slightly cropped copies) "
        "in place of the records; with --format json one line per group",
    )
    g.add_argument(
        "--similarity",
        type=confidence,
        default=0.95,
        metavar="S",
        help="with --duplicates: how alike two photos' features must be, 0-1 (default: "
        "%(default)s)",
    )
    g.add_argument(
        "--correct",
        metavar="LABEL",
        help="record that the photos given are LABEL (kept in each folder's "
        ".resnet-corrections.json for resnet-train --from-corrections), then exit",
    )
    g.add_argument(
        "--export-corrections",
        metavar="OUT",
        help="copy the corrected photos of the folders given into OUT/<class>/, then exit",
    )
    g.add_argument(
        "--undo",
        metavar="JOURNAL",
        help="put back every file a --sort-into run placed (its journal file), then exit",
    )


def confidence(text: str) -> float:
    """ "0.6" or "60%" as 0.6; argparse reports anything else."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1 (or 0% and 100%)")
    return value


def asks_for_undo(argv: Sequence[str]) -> str | None:
    """`--undo JOURNAL` needs no PATH, so it is answered before the usual parsing."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--undo" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--undo="):
            return arg.split("=", 1)[1]
    return None


def run_undo(journal: str) -> int:
    from core.library.sorting import undo

    try:
        report = undo(journal)
    except ClassifierError as exc:
        print(f"resnet-classify: {exc}", file=sys.stderr)
        return exc.exit_code
    for problem in report.problems:
        print(f"resnet-classify: {printable(problem)}", file=sys.stderr)
    print(f"resnet-classify: {report.restored} files put back.", file=sys.stderr)
    return 1 if report.problems else 0


def run_corrections(args: argparse.Namespace) -> int | None:
    """`--correct` and `--export-corrections`, which classify nothing; None otherwise."""
    if args.correct is None and args.export_corrections is None:
        return None
    from core.library.corrections import export_class_folders, stores_for

    try:
        if args.correct is not None:
            photos = [p for p in args.paths if Path(p).is_file()]
            for photo in photos:
                stores_for([photo])[Path(photo).parent].set(photo, args.correct)
            print(
                f"resnet-classify: {len(photos)} photos recorded as {args.correct}.",
                file=sys.stderr,
            )
            return 0 if len(photos) == len(args.paths) else 1
        folders = [Path(p) for p in args.paths if Path(p).is_dir()]
        items = [item for f in folders for item in stores_for([f / "x"])[f].items()]
        counts = export_class_folders(items, args.export_corrections)
    except ClassifierError as exc:
        print(f"resnet-classify: {exc}", file=sys.stderr)
        return exc.exit_code
    listing = ", ".join(f"{label} {n}" for label, n in sorted(counts.items())) or "none"
    print(f"resnet-classify: exported corrections: {listing}.", file=sys.stderr)
    return 0


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.sort_into is None and (args.move or args.copy or args.dry_run):
        parser.error("--copy, --move and --dry-run go with --sort-into")
    if args.cluster and (args.sort_into or args.write_keywords):
        parser.error("--sort-into and --write-keywords run on this machine only")


class LibraryRun:
    """What the library options do with a run's results: nothing when none was given."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.unsure_wanted = any(
            (args.min_confidence is not None, args.write_keywords, args.sort_into)
        )
        self.wanted = self.unsure_wanted or args.duplicates
        self.min_confidence = (
            args.min_confidence if args.min_confidence is not None else DEFAULT_MIN_CONFIDENCE
        )
        self.results: list[ClassificationResult] = []
        self.failed = 0  # photos whose keywords or place could not be written

    @property
    def prints_plan(self) -> bool:
        """`--dry-run` prints the plan, `--duplicates` the groups, in place of the records."""
        return bool(self.args.sort_into and self.args.dry_run) or self.args.duplicates

    @property
    def needs_features(self) -> bool:
        """The engine returns each image's pooled features with its result (`--duplicates`)."""
        return bool(self.args.duplicates)

    def observe(self, results: Iterable[ClassificationResult]) -> Iterator[ClassificationResult]:
        """Pass `results` on, writing each one's keywords as it comes."""
        if not self.wanted:
            yield from results
            return
        from core.library.keywords import keywords_for, write_one

        for result in results:
            self.results.append(result)
            words = keywords_for(result, self.min_confidence)
            if self.args.write_keywords and words:
                record = write_one(result.path, words, self.args.write_keywords)
                if not record.ok:
                    self.failed += 1
                    print(f"resnet-classify: {printable(record.error)}", file=sys.stderr)
            yield result

    def finish(self, fmt: str = "json") -> int:
        """The unsure share, the sort, the duplicate groups; how many photos failed in them."""
        if not self.wanted:
            return 0
        if self.args.duplicates:
            self._duplicates(fmt)
        from core.library.unsure import unsure_share

        share = unsure_share(self.results, self.min_confidence)
        if share.classified and self.unsure_wanted:
            print(f"resnet-classify: {share.describe()}.", file=sys.stderr)
        if self.args.sort_into:
            self.failed += self._sort()
        return self.failed

    def _duplicates(self, fmt: str) -> None:
        import json

        import numpy as np

        from core.library.similar import duplicate_groups

        ok = [r for r in self.results if r.ok and r.features is not None]
        if not ok:
            return
        features = np.stack([r.features for r in ok])
        groups = duplicate_groups([r.path for r in ok], features, self.args.similarity)
        for n, group in enumerate(groups, 1):
            if fmt == "json":
                print(json.dumps(group.to_dict()))
                continue
            print(f"group {n} ({len(group.paths)} photos)")
            for path, sim in zip(group.paths, group.similarity, strict=True):
                print(f"  {sim:.4f}  {printable(path)}")
        print(
            f"resnet-classify: {len(groups)} groups of near-duplicates among {len(ok)} photos "
            f"(similarity at least {self.args.similarity:g}).",
            file=sys.stderr,
        )

    def _sort(self) -> int:
        from core.library.sorting import execute, plan_sort

        mode = "move" if self.args.move else "copy"
        plan = plan_sort(self.results, self.args.sort_into, self.min_confidence, mode)
        folders = ", ".join(f"{name} {n}" for name, n in plan.folders().items())
        if self.args.dry_run:
            for line in plan.lines():
                print(printable(line))
            print(f"resnet-classify: dry run, nothing {DONE[mode]}: {folders}.", file=sys.stderr)
            return 0
        try:
            report = execute(plan)
        except ClassifierError as exc:
            print(f"resnet-classify: {exc}", file=sys.stderr)
            return len(plan.placements)
        for failure in report.failed:
            print(f"resnet-classify: not sorted: {printable(failure)}", file=sys.stderr)
        print(
            f"resnet-classify: {report.done} files {DONE[mode]} into "
            f"{printable(str(Path(plan.out)))} ({folders}); undo with "
            f"resnet-classify --undo {printable(report.journal)}",
            file=sys.stderr,
        )
        return len(report.failed)
