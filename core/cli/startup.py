"""What `resnet-classify` starts early, so that its start-up is the longest of its parts rather
than their sum (issue 25; `benchmarks/cli_startup.py` measures it):

- the folders are listed, and the disk asked for the first files' bytes, on a thread while
  torch imports (`Listing`);
- on a CUDA device, CUDA starts on a thread (the driver and the device's context) while
  torchvision, the engine and the model load (`start_cuda`).

Neither changes what the run does or says. The main thread takes the listing where it listed
before (an exception of the listing's is raised there), and the engine resolves and places the
device as before: a GPU that cannot start fails there, with the same message; the thread only
gets there first.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

# Files whose bytes are asked for ahead: the first batch, or more (`GPU_MIN_BATCH` is 256).
READ_AHEAD_FILES = 256


class Listing:
    """`expand_paths` of the command line's paths, on a thread started at once."""

    def __init__(self, paths: Sequence[str], recursive: bool) -> None:
        self._paths: list[Path] = []
        self._error: BaseException | None = None
        self._listed = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(list(paths), recursive), name="listing", daemon=True
        )
        self._thread.start()

    def _run(self, paths: list[str], recursive: bool) -> None:
        try:
            from core.decode.files import expand_paths
            from core.decode.settings import apply_image_settings

            apply_image_settings()  # HEIC and AVIF count as images once registered
            self._paths = expand_paths(paths, recursive=recursive)
        except BaseException as exc:  # raised on the main thread, where it used to be
            self._error = exc
        finally:
            self._listed.set()
        read_ahead(self._paths[:READ_AHEAD_FILES])

    def paths(self) -> list[Path]:
        """The files to classify, in order (waits for the listing)."""
        self._listed.wait()
        if self._error is not None:
            raise self._error
        return self._paths


def read_ahead(paths: Sequence[Path]) -> None:
    """Ask the system to read these files into its cache, without waiting for the disk, so
    that the decoders find them there. Only regular files are opened, without blocking; a
    file that cannot be is left to the decoders, which say why."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    from core.decode.files import open_regular_file

    for path in paths:
        with contextlib.suppress(Exception), open_regular_file(path) as f:
            advise(f.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)


def start_cuda(spec: str) -> threading.Thread | None:
    """Start CUDA on a thread when `spec` ("auto", "cuda", "cuda:N") names a GPU here: its
    driver and the device's context are made while the caller goes on (a first CUDA tensor
    takes seconds). The thread, if any; errors are left to the engine, which meets them again.
    """
    if spec == "cpu":
        return None
    from core.devices import resolve_device

    def run() -> None:
        import torch

        with contextlib.suppress(Exception):
            device = resolve_device(spec)
            if device.type == "cuda":
                torch.empty(1, device=device)

    thread = threading.Thread(target=run, name="cuda-start")
    thread.start()
    return thread
