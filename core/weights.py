"""Where the ImageNet weights come from: bundled file, torch hub cache, then a download.

The download goes through torch's own `download_url_to_file`, so its SHA-256 check and its
atomic ".partial" rename stay torch's; we only listen to its progress bar to report
bytes done / total to the command line and the window.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import urllib.error
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.hub
from torchvision.models import ResNet50_Weights

from core.errors import Cancelled, WeightsUnavailableError
from core.resources import resources_dir

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes total); total is 0 when the server does not say."""

VARIANTS = {w.name: w for w in ResNet50_Weights}
DEFAULT_VARIANT = "IMAGENET1K_V2"
WEIGHTS_SIZE = "about 98 MB"  # both variants' files: 102,530,333 and 102,540,417 bytes

# Lets tests (and mirrors) serve the weights from elsewhere; the file name keeps the hash.
URL_ENV = "RESNET_CLASSIFIER_WEIGHTS_URL"
BUNDLED_ENV = "RESNET_CLASSIFIER_WEIGHTS_DIR"

_download_lock = threading.Lock()


def weights_enum(variant: str = DEFAULT_VARIANT) -> ResNet50_Weights:
    try:
        return VARIANTS[variant.upper()]
    except KeyError:
        names = ", ".join(VARIANTS)
        raise WeightsUnavailableError(
            f"Unknown weights '{variant}'; choose one of {names}."
        ) from None


def weights_url(weights: ResNet50_Weights) -> str:
    override = os.environ.get(URL_ENV)
    if override:
        return override.rstrip("/") + "/" + file_name(weights)
    return weights.url


def file_name(weights: ResNet50_Weights) -> str:
    return weights.url.rsplit("/", 1)[-1]


def bundled_path(weights: ResNet50_Weights) -> Path:
    folder = os.environ.get(BUNDLED_ENV)
    return (Path(folder) if folder else resources_dir() / "weights") / file_name(weights)


def cache_path(weights: ResNet50_Weights) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name(weights)


def find_local(weights: ResNet50_Weights) -> Path | None:
    """The first weights file already on disk, bundled before cached."""
    for candidate in (bundled_path(weights), cache_path(weights)):
        if candidate.is_file():
            return candidate
    return None


def ensure_weights(
    variant: str = DEFAULT_VARIANT,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Return a local path to the ImageNet weights, downloading them once if needed."""
    weights = weights_enum(variant)
    local = find_local(weights)
    if local is not None:
        log.info("using weights at %s", local)
        return local
    dst = cache_path(weights)
    download(weights_url(weights), dst, progress=progress, cancel=cancel)
    return dst


def download(
    url: str,
    dst: Path,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Download `url` to `dst` atomically, checking the SHA-256 prefix in its file name.

    torch's convention: `resnet50-11ad3fa6.pth` must hash to a digest starting `11ad3fa6`.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(url.rsplit("/", 1)[-1])
    log.info("downloading %s to %s", url, dst)
    try:
        with _download_lock, _progress_reporter(progress, cancel):
            torch.hub.download_url_to_file(
                url, str(dst), match.group(1) if match else None, progress=True
            )
    except Cancelled:
        raise
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        raise missing_weights_error(getattr(exc, "reason", exc), dst) from None
    except RuntimeError as exc:
        if "invalid hash value" in str(exc):
            raise WeightsUnavailableError(
                "The downloaded ImageNet weights failed their integrity check and were discarded. "
                "Try again; if it keeps failing, use a checkpoint of your own."
            ) from None
        raise


def missing_weights_error(reason: object, dst: Path) -> WeightsUnavailableError:
    """The download failed: say why in words, which file is missing and where it goes."""
    offline = isinstance(reason, socket.gaierror) or getattr(reason, "errno", None) in (
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
    )
    if offline:
        why = "This computer is offline, so the ImageNet weights could not be downloaded."
    elif isinstance(reason, (TimeoutError, socket.timeout)):
        why = "The ImageNet weights could not be downloaded: the server did not answer in time."
    else:
        words = getattr(reason, "strerror", None) or str(reason)
        why = f"The ImageNet weights could not be downloaded ({words})."
    return WeightsUnavailableError(
        f"{why} The file {dst.name} ({WEIGHTS_SIZE}) is needed; put it in {dst.parent} and "
        "start again, or connect to the internet once so it is downloaded there.",
        file_name=dst.name,
        folder=str(dst.parent),
        offline=offline,
    )


class _ProgressBar:
    """Stands in for tqdm inside torch.hub: forwards progress and lets the user cancel."""

    def __init__(
        self, callback: ProgressCallback | None, cancel: threading.Event | None, total: Any
    ) -> None:
        self.callback = callback
        self.cancel = cancel
        self.total = int(total or 0)
        self.done = 0

    def __enter__(self) -> _ProgressBar:
        self._report()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        self.done += n
        self._report()

    def _report(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("Download cancelled.")
        if self.callback is not None:
            self.callback(self.done, self.total)


@contextmanager
def _progress_reporter(callback: ProgressCallback | None, cancel: threading.Event | None):
    original = torch.hub.tqdm

    def factory(*args: Any, total: Any = None, **kwargs: Any) -> _ProgressBar:
        return _ProgressBar(callback, cancel, total)

    torch.hub.tqdm = factory
    try:
        yield
    finally:
        torch.hub.tqdm = original
