"""Errors a user can cause, each carrying a sentence a person can act on.

`exit_code` is what the command line exits with when the error stops a whole run.
"""

from __future__ import annotations


class ClassifierError(Exception):
    """Base of every error we expect users to meet; its message is shown as is."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ImageReadError(ClassifierError):
    """An image could not be read; only that image fails."""

    exit_code = 1


class ModelLoadError(ClassifierError):
    """The model could not be made ready: nothing can be classified."""

    exit_code = 3


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

    exit_code = 1


class ExportError(ClassifierError):
    """Results could not be saved; the file that was there before is unchanged."""

    exit_code = 1


class Cancelled(ClassifierError):
    """The user cancelled a download or a run."""

    exit_code = 130

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class ClusterError(ClassifierError):
    """`--cluster`: Ray is missing, the cluster cannot be reached, or it lost the run."""

    exit_code = 4


class OutputFileError(ClassifierError):
    """`--output`: the file cannot be opened, or holds something other than our records."""

    exit_code = 2
