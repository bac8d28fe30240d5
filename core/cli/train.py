"""`resnet-train`: teach ResNet50 your own classes from a folder of class folders.

Exit status, as `resnet-classify`'s: 0 trained and saved, 1 saved but some images could not be
read, or the model could not be trained or saved, 2 usage error (including a folder that cannot
be taught from), 3 backbone not loaded, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from core.cli.help import TRAIN_EPILOG, model_error_lines
from core.cli.progress import TrainingBar
from core.errors import Cancelled, ClassifierError, ExitCode, ModelLoadError
from core.printable import printable as escaped
from core.version import version

if TYPE_CHECKING:
    from core.teach.training import TrainingResult

CLASSES_LISTED = 20  # classes named in the first line; more are counted
MATRIX_CLASSES = 20  # the confusion matrix is printed up to this many classes


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="resnet-train",
        description="Teach ResNet50 your own classes: DATA_DIR holds one sub-folder of images "
        "per class (at least two). Saves a checkpoint that resnet-classify --weights and the "
        "window load with the folder names as labels.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", metavar="DATA_DIR", help="folder with one sub-folder per class")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="checkpoint to write")
    p.add_argument(
        "--backbone",
        metavar="FILE",
        help="start from this ResNet50 checkpoint instead of the ImageNet weights",
    )
    p.add_argument(
        "--epochs", type=int, default=30, help="at most this many epochs (default: %(default)s)"
    )
    p.add_argument(
        "--val-split",
        type=float,
        default=0.2,
        metavar="FRACTION",
        help="share of each class held out to measure accuracy (default: %(default)s)",
    )
    p.add_argument(
        "--fine-tune",
        action="store_true",
        help="also train the last block (layer4): slower, sometimes more accurate",
    )
    p.add_argument(
        "--augment",
        type=int,
        default=0,
        metavar="N",
        help="augmented views (random crop, flip) per image; each costs about one more "
        "pass over the images (default: %(default)s)",
    )
    p.add_argument(
        "--no-refit",
        dest="refit",
        action="store_false",
        help="save the model that learned from the training images only, instead of learning "
        "again from every image for the epochs the held-out images chose",
    )
    p.add_argument(
        "--from-corrections",
        action="store_true",
        help="DATA_DIR is a folder of photos: teach from its corrections (resnet-classify "
        "--correct, or the window) plus the examples --backbone was taught from",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same model (default: 0)")
    p.add_argument("--verbose", "-v", action="store_true", help="log what training does")
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if not 0.0 < args.val_split < 1.0:
        parser.error("--val-split must be between 0 and 1, for example 0.2")
    if args.augment < 0:
        parser.error("--augment must be 0 or more")
    if not Path(args.data).is_dir():
        parser.error(f"{args.data} is not a folder")
    out_dir = Path(args.output).resolve().parent
    if out_dir.is_dir() and not os.access(out_dir, os.W_OK):
        parser.error(f"-o: cannot write in {out_dir}")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    cancel = threading.Event()
    try:
        return _run(args, cancel)
    except KeyboardInterrupt:
        cancel.set()
        print("\nInterrupted.", file=sys.stderr)
        return ExitCode.INTERRUPTED


def _run(args: argparse.Namespace, cancel: threading.Event) -> int:
    from core.imports import engine_imports

    with engine_imports():
        from core.decode.settings import apply_image_settings
        from core.teach.training import TrainingOptions, save_checkpoint, scan_folder, train

    apply_image_settings()
    # one reading of the options for both kinds of teaching, so that neither can drop one
    options = TrainingOptions(
        epochs=args.epochs,
        val_split=args.val_split,
        fine_tune=args.fine_tune,
        augment_passes=args.augment,
        seed=args.seed,
        device=args.device,
        refit_on_all=args.refit,
    )
    if args.from_corrections:
        from core.cli.reteach import run_reteach

        return run_reteach(args, options, cancel, format_summary)
    try:
        folders = scan_folder(args.data)
    except ClassifierError as exc:
        _say(f"resnet-train: {exc}")
        return ExitCode.USAGE
    listed = ", ".join(f"{c.name} ({c.count})" for c in folders.classes[:CLASSES_LISTED])
    more = len(folders.classes) - CLASSES_LISTED
    _say(
        f"{len(folders.classes)} classes, {folders.total} images: {listed}"
        + (f" and {more} more" if more > 0 else "")
    )
    for warning in folders.warnings():
        _say(f"warning: {warning}")
    bar = TrainingBar() if sys.stderr.isatty() else None
    try:
        result = train(folders, options, backbone=args.backbone, progress=bar, cancel=cancel.is_set)
        if bar:
            bar.clear()
        path = save_checkpoint(result, args.output)
    except Cancelled:
        if bar:
            bar.clear()
        print("Cancelled.", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except ClassifierError as exc:
        if bar:
            bar.clear()
        for line in model_error_lines("resnet-train", exc, "--backbone"):
            _say(line)
        if isinstance(exc, ModelLoadError):
            return ExitCode.MODEL
        return ExitCode.USAGE if exc.exit_code == ExitCode.USAGE else ExitCode.SOME_FAILED
    _write(sys.stdout, format_summary(result))
    _say(f"Saved {path}. Classify with: resnet-classify --weights {path} PHOTO...")
    return ExitCode.SOME_FAILED if result.skipped else ExitCode.OK


def format_summary(result: TrainingResult) -> str:
    """Held-out accuracy per class and the confusion matrix, as a person reads them.

    Names are written with control characters and undecodable bytes escaped; with more than
    `MATRIX_CLASSES` classes the matrix gives way to the pairs most often confused.
    """
    names = [escaped(n) for n in result.class_names]
    total = sum(result.val_counts)
    right = sum(result.confusion[i][i] for i in range(len(names)))
    lines = [
        f"Validation accuracy: {result.val_accuracy * 100:.1f}% ({right} of {total} held-out "
        f"images), best epoch {result.best_epoch} of {len(result.history)} run; "
        f"{result.seconds:.1f} s on {'CPU' if result.device == 'cpu' else result.device}",
    ]
    if result.refit_epochs:
        lines.append(
            f"The saved model then learned from all {sum(result.train_counts) + total} images, "
            f"held-out ones too, for {result.refit_epochs} epochs."
        )
    lines.append("")
    if result.held_out:
        lines += ["If a top-1 under a threshold is unsure (--min-confidence), held out:"]
        lines += [f"  {line}" for line in result.thresholds_text().splitlines()]
        lines.append("")
    width = max(12, *(len(n) for n in names))
    lines.append(f"  {'class':<{width}}  {'train':>6}  {'val':>5}  {'val accuracy':>12}")
    for i, name in enumerate(names):
        lines.append(
            f"  {name:<{width}}  {result.train_counts[i]:>6}  {result.val_counts[i]:>5}  "
            f"{result.per_class_accuracy[i] * 100:>11.1f}%"
        )
    if len(names) <= MATRIX_CLASSES:
        lines += ["", "Confusion matrix (rows: true class, columns: predicted):"]
        col = max(6, *(len(n) for n in names))
        lines.append(f"  {'':<{width}}  " + "  ".join(f"{n:>{col}}" for n in names))
        for i, name in enumerate(names):
            row = "  ".join(f"{v:>{col}}" for v in result.confusion[i])
            lines.append(f"  {name:<{width}}  " + row)
    else:
        pairs = sorted(
            (-v, i, j)
            for i, row in enumerate(result.confusion)
            for j, v in enumerate(row)
            if i != j and v
        )[:MATRIX_CLASSES]
        lines += [
            "",
            f"Most often confused ({len(names)} classes: the whole matrix is in the window's "
            "Teach dialog):",
        ]
        lines += [f"  {names[i]} taken for {names[j]}: {-v}" for v, i, j in pairs]
        if not pairs:
            lines.append("  none")
    if result.misclassified:
        lines += ["", "Held-out images it got wrong:"]
        lines += [
            f"  {escaped(m.path)}: {escaped(m.true_label)}, predicted "
            f"{escaped(m.predicted_label)} ({m.probability * 100:.0f}%)"
            for m in result.misclassified
        ]
    if result.skipped:
        n = len(result.skipped)
        lines += ["", f"Skipped {n} unreadable image{'s' if n != 1 else ''}:"]
        lines += [
            f"  {escaped(path)}: {escaped(_reason(path, why))}" for path, why in result.skipped
        ]
    return "\n".join(lines) + "\n"


def _reason(path: str, why: str) -> str:
    """The reason without the file name it starts with (the path is written before it)."""
    prefix = f"{Path(path).name}: "
    return why[len(prefix) :] if why.startswith(prefix) else why


def _say(text: str) -> None:
    _write(sys.stderr, escaped(text) + "\n")


def _write(stream: TextIO, text: str) -> None:
    """Write whatever the stream's encoding: a character it lacks is escaped, never raised."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(text.encode(encoding, "backslashreplace").decode(encoding, "replace"))
    stream.flush()


if __name__ == "__main__":
    raise SystemExit(main())
