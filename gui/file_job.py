"""A file job (writing keywords, sorting, undoing a sort) on a thread of its own.

These jobs only read and write files (no torch, no model), so they do not queue behind the
classifier's worker. The job reports through signals, queued to the window's thread.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from core import ClassifierError

log = logging.getLogger(__name__)

Work = Callable[[Callable[[int, int], None]], Any]


class FileJob(QObject):
    """Runs `work(progress)` on a thread: `progress(done, total)`, then `finished(value)` or
    `failed(message)` (an error a user can cause), or `crashed(summary, details)` (a bug)."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)
    crashed = Signal(str, str)

    def __init__(self, work: Work, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._work = work
        self._thread = threading.Thread(target=self._run, name="file-job", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            value = self._work(self.progress.emit)
        except ClassifierError as exc:
            self.failed.emit(exc.message)
        except Exception as exc:  # a bug: shown with its traceback, the window goes on
            log.exception("file job failed")
            self.crashed.emit(str(exc), traceback.format_exc())
        else:
            self.finished.emit(value)
