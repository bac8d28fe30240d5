"""`resnet-train --from-corrections PHOTO_DIR`: teach from a folder's corrections (and the
examples `--backbone` was taught from), then say what changed."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.errors import ClassifierError, ExitCode, ModelLoadError

if TYPE_CHECKING:
    from core.teach.training import TrainingOptions


def run_reteach(
    args: argparse.Namespace,
    options: TrainingOptions,
    cancel: threading.Event,
    summary: Callable[[Any], str],
) -> int:
    """Teach with `options` (those of `resnet-train`), print `summary(result)` as
    `resnet-train` does, then the before/after line."""
    from core.library.corrections import CorrectionStore
    from core.library.reteach import teach_from_corrections

    store = CorrectionStore(args.data)
    corrections = store.items()
    if not corrections:
        print(
            f"resnet-train: {args.data} has no corrections (resnet-classify --correct LABEL "
            "PHOTO..., or correct rows in the window).",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    try:
        done = teach_from_corrections(
            corrections,
            args.backbone,
            args.output,
            options=options,
            cancel=cancel.is_set,
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
