"""`resnet-train --from-corrections PHOTO_DIR`: teach from a folder's corrections (and the
examples `--backbone` was taught from), then say what changed."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import Any

from core.errors import ClassifierError, ExitCode, ModelLoadError


def run_reteach(
    args: argparse.Namespace, cancel: threading.Event, summary: Callable[[Any], str]
) -> int:
    """Teach, print `summary(result)` as `resnet-train` does, then the before/after line."""
    from core.library.corrections import CorrectionStore
    from core.library.reteach import teach_from_corrections
    from core.teach.training import TrainingOptions

    store = CorrectionStore(args.data)
    corrections = store.items()
    if not corrections:
        print(
            f"resnet-train: {args.data} has no corrections (resnet-classify --correct LABEL "
            "PHOTO..., or correct rows in the window).",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    options = TrainingOptions(
        epochs=args.epochs,
        val_split=args.val_split,
        fine_tune=args.fine_tune,
        augment_passes=args.augment,
        seed=args.seed,
        device=args.device,
    )
    try:
        done = teach_from_corrections(
            corrections, args.backbone, args.output, options=options, cancel=cancel.is_set
        )
    except ClassifierError as exc:
        print(f"resnet-train: {exc}", file=sys.stderr)
        return ExitCode.MODEL if isinstance(exc, ModelLoadError) else ExitCode.SOME_FAILED
    sys.stdout.write(summary(done.result))
    print(f"resnet-train: {done.describe()}.", file=sys.stderr)
    print(
        f"Saved {done.path}. Classify with: resnet-classify --weights {done.path} PHOTO...",
        file=sys.stderr,
    )
    return ExitCode.OK
