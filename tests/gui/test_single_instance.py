"""One window per session: a second launch hands its files over, a dead socket is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dnd import MODEL_TIMEOUT_MS
from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QFileOpenEvent

from gui import hand_over, instance_name
from gui.app import _open_from_outside
from gui.file_open import FileOpenCollector
from gui.single_instance import InstanceServer

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets stand in for a crash")

# A second launch as a user makes it: `resnet-classifier FILE...`, through gui.app.main.
SECOND_LAUNCH = (
    "import json, sys; from gui.app import main; code = main(sys.argv[1:]);"
    "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules,"
    " 'widgets': 'PySide6.QtWidgets' in sys.modules}))"
)


@pytest.fixture
def name(tmp_path: Path) -> str:
    """A socket of the test's own, so a real app open on this machine is left alone."""
    return str(tmp_path / "instance.sock")


def launch(name: str, *files: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    env[instance_name.NAME_ENV] = name
    return subprocess.Popen(
        [sys.executable, "-c", SECOND_LAUNCH, *files],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_a_second_launch_hands_its_photo_to_the_open_window_without_torch(
    qtbot, window, photos, name
):
    server = InstanceServer(name)
    assert server.listen()
    server.filesReceived.connect(lambda files: _open_from_outside(window, files))
    photo = photos["coffee"]

    # A relative path, as typed in a terminal: the window has another working folder.
    with qtbot.waitSignal(window.itemClassified, timeout=MODEL_TIMEOUT_MS) as classified:
        proc = launch(name, photo.name, cwd=photo.parent)
    launched = finished(proc)

    assert launched == {"code": 0, "torch": False, "widgets": False}
    _, result = classified.args
    assert result.ok and Path(result.path) == photo
    server.close()


def test_a_second_launch_without_files_only_asks_the_window_forward(qtbot, name):
    server = InstanceServer(name)
    assert server.listen()
    with qtbot.waitSignal(server.filesReceived) as received:
        proc = launch(name)
    assert finished(proc)["code"] == 0
    assert received.args == [[]]
    server.close()


def test_a_socket_left_by_a_crash_is_taken_over(qtbot, tmp_path, name):
    crashed = socket.socket(socket.AF_UNIX)
    crashed.bind(name)  # the file stays, nobody listens: as after a crash
    crashed.close()
    assert Path(name).exists()

    server = InstanceServer(name)
    assert server.listen()
    photo = str(tmp_path / "a.jpg")
    with qtbot.waitSignal(server.filesReceived) as received:
        proc = launch(name, photo)
    assert finished(proc)["code"] == 0
    assert received.args == [[photo]]
    server.close()


def test_an_app_that_does_not_answer_is_taken_over(qtbot, monkeypatch, name):
    monkeypatch.setattr(hand_over, "CONNECT_MS", 200)
    monkeypatch.setattr(hand_over, "ANSWER_MS", 200)
    hung = socket.socket(socket.AF_UNIX)
    hung.bind(name)
    hung.listen(8)  # connections queue up, nobody ever greets them
    try:
        assert hand_over.hand_over(["photo.jpg"], name) is False
        server = InstanceServer(name)
        assert server.listen()
        with qtbot.waitSignal(server.filesReceived) as received:
            proc = launch(name)
        assert finished(proc)["code"] == 0
        assert received.args == [[]]
        server.close()
    finally:
        hung.close()


def test_a_live_app_keeps_its_socket(qtbot, name):
    first = InstanceServer(name)
    assert first.listen()
    # A second app started with its own model: it must not steal the socket from the first.
    code = (
        "import sys; from PySide6.QtCore import QCoreApplication;"
        "from gui.single_instance import InstanceServer; app = QCoreApplication([]);"
        "print(InstanceServer(sys.argv[1]).listen())"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", code, name], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)  # our loop greets it
    assert proc.stdout.read().strip() == "False"

    with qtbot.waitSignal(first.filesReceived):  # and later launches still reach the first
        later = launch(name)
    assert finished(later)["code"] == 0
    first.close()


def test_files_opened_from_finder_arrive_as_one_drop(qtbot, qapp, tmp_path):
    collector = FileOpenCollector()
    qapp.installEventFilter(collector)
    paths = [str(tmp_path / "a.jpg"), str(tmp_path / "b.png")]
    try:
        with qtbot.waitSignal(collector.filesOpened) as opened:
            for path in paths:
                QCoreApplication.sendEvent(qapp, QFileOpenEvent(path))
    finally:
        qapp.removeEventFilter(collector)
    assert opened.args == [paths]
