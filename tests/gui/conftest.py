"""Fixtures for driving the real window: temporary settings, windows that close themselves,
and drops synthesised with real QMimeData."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dnd import MODEL_TIMEOUT_MS
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from gui.settings import Settings
from gui.window import MainWindow


@pytest.fixture(scope="session", autouse=True)
def _private_qsettings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Whatever QSettings() is made during the tests lands in a temporary folder."""
    folder = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, folder)
    QApplication.setOrganizationName("resnet-classifier-tests")
    QApplication.setApplicationName("gui-tests")


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "settings.ini"


@pytest.fixture
def settings(settings_file: Path) -> Settings:
    return Settings(QSettings(str(settings_file), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, settings: Settings, checkpoint: Path) -> Callable[..., MainWindow]:
    """A shown window on the session's checkpoint (not started: call `start()` or use `window`)."""

    def make(settings: Settings = settings, **kwargs) -> MainWindow:
        kwargs.setdefault("weights", str(checkpoint))
        window = MainWindow(settings, **kwargs)
        qtbot.addWidget(window)  # closed at teardown: its threads are stopped then
        window.show()
        return window

    return make


@pytest.fixture
def window(qtbot, make_window) -> MainWindow:
    """A window whose model has loaded."""
    window = make_window()
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.start()
    return window
