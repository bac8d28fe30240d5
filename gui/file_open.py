"""macOS: files opened from Finder reach the running app itself, as `QFileOpenEvent`s."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal


class FileOpenCollector(QObject):
    """macOS: files opened from Finder reach the app as QFileOpenEvents, one per file.

    Install on the QApplication; files that arrive together are emitted as one list, so a
    selection of five photos opens as one drop of five rather than five drops of one.
    """

    filesOpened = Signal(list)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._files: list[str] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self._flush)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen:
            path = event.file() or event.url().toLocalFile()  # type: ignore[attr-defined]
            if path:
                self._files.append(path)
                self._timer.start()
            return True
        return super().eventFilter(obj, event)

    def _flush(self) -> None:
        files, self._files = self._files, []
        if files:
            self.filesOpened.emit(files)
