"""Errors a user can cause, each carrying a sentence a person can act on.

`exit_code` is what the command line exits with when the error stops a whole run; the codes
themselves are `ExitCode`, shared by `resnet-classify`, `resnet-train` and the app's
`--self-test`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What the command lines exit with."""

    OK = 0
    SOME_FAILED = 1  # some images (or the run) failed; the rest are done
    USAGE = 2  # a usage error, or an --output file that is not ours
    MODEL = 3  # the model (or the device) could not be made ready
    CLUSTER = 4  # the cluster is missing (no Ray, unreachable) or lost the run
    INTERRUPTED = 130  # Ctrl+C, or cancelled


class ClassifierError(Exception):
    """Base of every error we expect users to meet; its message is shown as is."""

    exit_code: int = ExitCode.SOME_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ImageReadError(ClassifierError):
    """An image could not be read; only that image fails."""

    exit_code = ExitCode.SOME_FAILED


class ModelLoadError(ClassifierError):
    """The model could not be made ready: nothing can be classified."""

    exit_code = ExitCode.MODEL


class CheckpointError(ModelLoadError):
    """A user's weights file is missing, corrupt or does not fit ResNet50."""


class LabelsError(ModelLoadError):
    """A labels file is unreadable or does not match the model's classes."""


class WeightsUnavailableError(ModelLoadError):
    """The ImageNet weights are neither bundled, cached nor downloadable.

    `file_name` and `folder` say which file is missing and where to put it (None where the
    error is not about a missing file); each front end adds its own way out (a flag, a menu).
    """

    def __init__(
        self,
        message: str,
        *,
        file_name: str | None = None,
        folder: str | None = None,
        offline: bool = False,
    ) -> None:
        super().__init__(message)
        self.file_name, self.folder, self.offline = file_name, folder, offline


class DeviceUnavailableError(ModelLoadError):
    """The device asked for does not exist on this machine."""


class OutOfDeviceMemoryError(ClassifierError):
    """The GPU ran out of memory; the engine stays usable afterwards."""

    exit_code = ExitCode.SOME_FAILED


class ExportError(ClassifierError):
    """Results could not be saved; the file that was there before is unchanged."""

    exit_code = ExitCode.SOME_FAILED


class Cancelled(ClassifierError):
    """The user cancelled a download or a run."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class ClusterError(ClassifierError):
    """`--cluster`: Ray is missing, the cluster cannot be reached, or it lost the run."""

    exit_code = ExitCode.CLUSTER


class OutputFileError(ClassifierError):
    """`--output`: the file cannot be opened, or holds something other than our records."""

    exit_code = ExitCode.USAGE


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of a library's error (at most `limit` characters), or its type's name,
    to quote inside one of our sentences."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__
