"""What the window remembers between runs, stored with Qt's own `QSettings`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QSize, QStandardPaths

DEVICE = "model/device"
WEIGHTS = "model/weights"
LABELS = "model/labels"
GEOMETRY = "window/geometry"
LAST_FOLDER = "window/lastFolder"
UNSURE = "library/unsureThreshold"


class Settings:
    """Typed access to the remembered values.

    With no `QSettings` the values live in memory only (the self-test must neither read nor
    change a user's settings); tests pass a `QSettings` on a temporary file.
    """

    def __init__(self, store: QSettings | None = None) -> None:
        self._store = store
        self._memory: dict[str, Any] = {}

    @classmethod
    def in_memory(cls) -> Settings:
        return cls(None)

    def _get(self, key: str) -> Any:
        if self._store is None:
            return self._memory.get(key)
        return self._store.value(key)

    def _set(self, key: str, value: Any) -> None:
        if self._store is None:
            if value is None:
                self._memory.pop(key, None)
            else:
                self._memory[key] = value
            return
        if value is None:
            self._store.remove(key)
        else:
            self._store.setValue(key, value)

    def _text(self, key: str) -> str | None:
        value = self._get(key)
        return str(value) if value not in (None, "") else None

    @property
    def device(self) -> str:
        return self._text(DEVICE) or "auto"

    @device.setter
    def device(self, value: str) -> None:
        self._set(DEVICE, value)

    @property
    def weights(self) -> str | None:
        """The user's own checkpoint, or None for the ImageNet weights."""
        return self._text(WEIGHTS)

    @weights.setter
    def weights(self, value: str | None) -> None:
        self._set(WEIGHTS, value)

    @property
    def unsure_threshold(self) -> float:
        """Under this top-1 confidence a photo is unsure (0-1; default 0.5)."""
        try:
            value = float(self._get(UNSURE))
        except (TypeError, ValueError):
            return 0.5
        return value if 0.0 <= value <= 1.0 else 0.5

    @unsure_threshold.setter
    def unsure_threshold(self, value: float) -> None:
        self._set(UNSURE, float(value))

    @property
    def labels(self) -> str | None:
        return self._text(LABELS)

    @labels.setter
    def labels(self, value: str | None) -> None:
        self._set(LABELS, value)

    @property
    def geometry(self) -> QByteArray | None:
        value = self._get(GEOMETRY)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._set(GEOMETRY, value)

    @property
    def last_folder(self) -> str:
        """Where file dialogs start: the last folder used, else the user's Pictures."""
        return self._text(LAST_FOLDER) or pictures_folder()

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self._set(LAST_FOLDER, value)

    def sync(self) -> None:
        if self._store is not None:
            self._store.sync()


def pictures_folder() -> str:
    """The user's Pictures folder where there is one, else their home: never the working
    directory (a source checkout, when started with `make run`)."""
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return pictures if pictures and Path(pictures).is_dir() else str(Path.home())


def default_size() -> QSize:
    """The first run's window: room for the photo, its bars and 10 table rows on a 1366x768
    screen, and no larger than the screen."""
    from PySide6.QtGui import QGuiApplication

    screen = QGuiApplication.primaryScreen()
    free = screen.availableGeometry().size() if screen is not None else QSize(1366, 768)
    return QSize(min(1280, free.width() - 40), min(800, free.height() - 40))
