"""Hand-overs that lose nothing and a socket nobody else can take or use.

Each test plays what a later launch, a hostile local user or a flood of connections does to the
running window's hand-over server, through real sockets and real second processes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from dnd import MODEL_TIMEOUT_MS, RESULT_TIMEOUT_MS
from PySide6.QtCore import QCoreApplication

from gui import hand_over, instance_name, single_instance
from gui.app import _open_from_outside
from gui.single_instance import InstanceServer

ROOT = Path(__file__).resolve().parents[2]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
SYSTEM_PYTHON = "/usr/bin/python3"  # a second user cannot enter root's own Python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Unix sockets")

HAND_OVER = (
    "import json, sys; from gui.hand_over import hand_over;"
    "files = json.load(sys.stdin); print(json.dumps(hand_over(files, sys.argv[1])))"
)
# What another local user runs: no Qt, only the protocol, from the system's Python.
INTRUDER = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    s.settimeout(5)
    greeting = s.recv(100)
    s.sendall(json.dumps({"files": ["/etc/shadow"]}).encode() + b"\\n")
    answer = s.recv(100)
except OSError as e:
    print(json.dumps({"refused": type(e).__name__}))
else:
    print(json.dumps({"greeting": greeting.decode(), "answer": answer.decode()}))
"""


def start_hand_over(name: str, files: list[str]) -> subprocess.Popen[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", HAND_OVER, name],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(files))
    proc.stdin.close()
    proc.stdin = None
    return proc


def taken(qtbot, proc: subprocess.Popen[str]) -> bool:
    """Wait (serving the app's events) for a launch to end; whether the app took its files."""
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def name(tmp_path: Path) -> str:
    return str(tmp_path / "instance.sock")


@pytest.fixture
def server(name: str):
    server = InstanceServer(name)
    assert server.listen()
    yield server
    server.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ---- malformed and hostile requests ---------------------------------------------------------
def test_deeply_nested_json_is_refused_and_the_server_goes_on(qtbot, server, name, caplog):
    client = socket.socket(socket.AF_UNIX)
    client.connect(name)
    client.setblocking(False)
    client.sendall(b"[" * 200_000 + b"\n")
    answer = b""

    def answered() -> bool:
        nonlocal answer
        with contextlib.suppress(BlockingIOError):  # nothing yet
            answer += client.recv(1000)
        return answer.endswith(b"error\n")

    qtbot.waitUntil(answered, timeout=10_000)
    client.close()
    assert "malformed request" in caplog.text
    with qtbot.waitSignal(server.filesReceived) as received:
        assert taken(qtbot, start_hand_over(name, ["/tmp/a.jpg"])) is True
    assert received.args == [["/tmp/a.jpg"]]


def test_a_thousand_held_connections_do_not_use_up_the_apps_descriptors(
    qtbot, server, name, monkeypatch
):
    monkeypatch.setattr(single_instance, "IDLE_S", 0.5)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    before = open_fds()
    held = []
    try:
        while len(held) < 1_100:
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            try:
                s.connect(name)
            except BlockingIOError:  # the backlog is full: let the app accept
                s.close()
                QCoreApplication.processEvents()
                continue
            held.append(s)
            if len(held) % 50 == 0:
                QCoreApplication.processEvents()
        qtbot.waitUntil(lambda: len(server._clients) <= single_instance.MAX_CLIENTS)
        # the test holds 1,100; the app holds at most MAX_CLIENTS of their other ends
        assert open_fds() - before - len(held) <= single_instance.MAX_CLIENTS + 4
        # the silent ones are hung up on: a real launch gets through
        with qtbot.waitSignal(server.filesReceived, timeout=30_000):
            proc = start_hand_over(name, ["/tmp/b.jpg"])
            assert taken(qtbot, proc) is True
    finally:
        for s in held:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_server_listens_again_after_accept_fails_for_want_of_descriptors(
    qtbot, server, name, caplog
):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    flood = subprocess.Popen(
        [
            SYSTEM_PYTHON,
            "-c",
            "import socket, sys\nsys.stdin.readline()\nheld = []\nfor _ in range(50):\n"
            "    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)\n"
            "sys.stdin.read()",
            name,
        ],
        stdin=subprocess.PIPE,
        text=True,
    )
    assert flood.stdin is not None
    try:
        # not one descriptor left to the app: its next accept fails, and Qt closes the server
        lowest_free = os.dup(0)  # a limit counts descriptor numbers: none free below this
        os.close(lowest_free)
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
        flood.stdin.write("go\n")
        flood.stdin.flush()
        qtbot.waitUntil(lambda: not server.is_listening(), timeout=30_000)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        flood.kill()
        flood.wait()
    qtbot.waitUntil(server.is_listening, timeout=10_000)
    assert "listening again" in caplog.text
    with qtbot.waitSignal(server.filesReceived, timeout=30_000):
        assert taken(qtbot, start_hand_over(name, ["/tmp/c.jpg"])) is True


def test_a_selection_over_a_megabyte_reaches_one_window_whole(qtbot, server, name):
    files = [f"/photos/holiday-{i:06d}-" + "x" * 80 + ".jpg" for i in range(15_000)]
    assert sum(len(f) for f in files) > hand_over.MAX_REQUEST
    with qtbot.waitSignal(server.filesReceived, timeout=60_000) as received:
        assert taken(qtbot, start_hand_over(name, files)) is True
    assert received.args == [files]


# ---- the window side ------------------------------------------------------------------------
def test_80000_missing_paths_make_a_short_notice(qtbot, window, name):
    server = InstanceServer(name)
    assert server.listen()
    server.filesReceived.connect(lambda files: _open_from_outside(window, files))
    files = [f"/nowhere/{i}.jpg" for i in range(80_000)]
    with qtbot.waitSignal(window.session.items.expanded, timeout=60_000):
        assert taken(qtbot, start_hand_over(name, files)) is True
    text = window.notice.text()
    assert text.startswith("0.jpg: file not found.") and "79997 more" in text
    assert len(text) < 400 and len(window.status()) < 400
    server.close()


def test_a_photo_whose_name_is_not_utf8_is_handed_over_and_classified(
    qtbot, window, name, photos, tmp_path
):
    server = InstanceServer(name)
    assert server.listen()
    server.filesReceived.connect(lambda files: _open_from_outside(window, files))
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    shutil.copyfile(photos["coffee"], raw)
    path = os.fsdecode(raw)
    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS) as classified:
        assert taken(qtbot, start_hand_over(name, [path])) is True
    _, result = classified.args
    assert result.ok and result.path == path
    assert "caf\\xe9.jpg" in window.panel.title.text()
    server.close()


@pytest.fixture
def folder(tmp_path: Path, photos: dict[str, Path]) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        shutil.copyfile(photos["rocket"], folder / f"{i:03d}.jpg")
    return folder


def run_folder_then(qtbot, window, name, folder, files_for):  # type: ignore[no-untyped-def]
    """Start a folder, and after a few results hand over `files_for(...)`; wait for the end."""
    server = InstanceServer(name)
    assert server.listen()
    server.filesReceived.connect(lambda files: _open_from_outside(window, files))
    done = []
    window.itemClassified.connect(lambda i, r: done.append(r.path))
    window.open_sources([str(folder)])
    qtbot.waitUntil(lambda: len(done) >= 3, timeout=MODEL_TIMEOUT_MS)
    assert taken(qtbot, start_hand_over(name, files_for())) is True
    server.close()
    return done


def test_a_hand_over_during_a_folder_run_joins_it_first_in_line(
    qtbot, window, name, folder, photos
):
    extra = photos["chelsea"]
    with qtbot.waitSignal(window.runFinished, timeout=MODEL_TIMEOUT_MS * 2):
        done = run_folder_then(qtbot, window, name, folder, lambda: [str(extra)])
    items = window.items()
    assert len(items) == 41 and Path(items[-1].name).name == "chelsea.jpg"
    assert all(item.result is not None and item.result.ok for item in items)
    # the newcomer was classified before the rest of the folder
    assert done.index(str(extra)) < 10, done


@pytest.mark.parametrize("kind", ["missing", "empty folder"])
def test_a_hand_over_of_nothing_to_open_leaves_the_run_going(
    qtbot, window, name, folder, tmp_path, kind
):
    nothing = tmp_path / ("gone.jpg" if kind == "missing" else "empty")
    if kind == "empty folder":
        nothing.mkdir()
    with qtbot.waitSignal(window.runFinished, timeout=MODEL_TIMEOUT_MS * 2):
        run_folder_then(qtbot, window, name, folder, lambda: [str(nothing)])
    assert len(window.items()) == 40
    assert all(item.result is not None for item in window.items())
    assert nothing.name in window.notice.text()


# ---- other users ----------------------------------------------------------------------------
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not Path(SYSTEM_PYTHON).exists(),
    reason="plays a second user with setpriv (root only)",
)


@pytest.fixture
def shared_tmp(monkeypatch: pytest.MonkeyPatch):
    """A temp folder like /tmp: everyone may write, sticky; no XDG_RUNTIME_DIR."""
    shared = Path(tempfile.mkdtemp(prefix="shared-", dir="/tmp"))
    shared.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv(instance_name.NAME_ENV, raising=False)
    yield shared
    shutil.rmtree(shared, ignore_errors=True)


@needs_root
def test_another_user_cannot_reach_the_socket_in_the_shared_temp_folder(qtbot, shared_tmp):
    name = instance_name.server_name()
    assert name is not None and Path(name).parent.parent == shared_tmp
    folder = Path(name).parent
    assert folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o777 == 0o700
    server = InstanceServer(name)
    assert server.listen()
    received = []
    server.filesReceived.connect(received.append)
    intruder = subprocess.Popen(
        [*NOBODY, SYSTEM_PYTHON, "-c", INTRUDER, name], stdout=subprocess.PIPE, text=True
    )
    qtbot.waitUntil(lambda: intruder.poll() is not None, timeout=30_000)
    assert json.loads(intruder.stdout.read()) == {"refused": "PermissionError"}
    assert received == []
    server.close()


@needs_root
def test_a_folder_another_user_made_first_is_not_used(qtbot, shared_tmp, caplog):
    squatted = shared_tmp / f"resnet-classifier-{os.getuid()}"
    subprocess.run([*NOBODY, "mkdir", "-m", "0777", str(squatted)], check=True)
    assert squatted.stat().st_uid == 65534
    with caplog.at_level(logging.WARNING):
        assert instance_name.server_name() is None
    assert "not a folder of this user's alone" in caplog.text
    assert hand_over.hand_over(["/tmp/x.jpg"]) is False  # no socket of theirs is used
    assert InstanceServer().listen() is False


@needs_root
def test_a_connection_from_another_user_is_refused_and_logged(qtbot, shared_tmp, caplog):
    # A socket anyone may connect to (umask 000 in a world-writable folder): the peer check
    # is what stops them.
    name = str(shared_tmp / "open.sock")
    old = os.umask(0)
    try:
        server = InstanceServer(name)
        assert server.listen()
    finally:
        os.umask(old)
    received = []
    server.filesReceived.connect(received.append)
    with caplog.at_level(logging.WARNING):
        intruder = subprocess.Popen(
            [*NOBODY, SYSTEM_PYTHON, "-c", INTRUDER, name], stdout=subprocess.PIPE, text=True
        )
        qtbot.waitUntil(lambda: intruder.poll() is not None, timeout=30_000)
    out = json.loads(intruder.stdout.read())
    assert out.get("answer", "") != "ok\n" and "ok" not in out.get("answer", "")
    assert received == []
    assert "refused a hand-over from user id 65534" in caplog.text
    server.close()
