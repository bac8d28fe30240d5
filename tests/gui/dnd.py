"""Drag and drop as a file manager or a browser does it: real QMimeData, real Qt events."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from gui.window import MainWindow

MODEL_TIMEOUT_MS = 120_000  # torch import and model build, on 2 busy cores
RESULT_TIMEOUT_MS = 60_000


def file_urls(paths: Iterable[Path | str]) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def _at_view(window: MainWindow, event_type: type, mime: QMimeData):
    """A drag event of `event_type` carrying `mime`, over the centre of the image view."""
    pos = QPointF(window.view.mapTo(window, window.view.rect().center()))
    if event_type is QDragEnterEvent:  # PySide6 6.11 takes only a QPoint here
        pos = pos.toPoint()
    return event_type(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )


def drag_over(window: MainWindow, mime: QMimeData) -> None:
    QApplication.sendEvent(window, _at_view(window, QDragEnterEvent, mime))


def drop(window: MainWindow, mime: QMimeData) -> bool:
    """Drag `mime` over the window and drop it, as a file manager would; True if accepted."""
    drag_over(window, mime)
    event = _at_view(window, QDropEvent, mime)
    QApplication.sendEvent(window, event)
    return event.isAccepted()
