"""A later launch hands its files to the window already open, over a local socket.

The launch imports only QtCore and QtNetwork: no widgets, no torch. The exchange, UTF-8 lines
(JSON with non-ASCII escaped, so names that are not UTF-8 survive):

    app    -> launch   resnet-classifier <pid>
    launch -> app      {"files": ["/abs/path.jpg", ...], "more": true}   (a part of a big list)
    launch -> app      {"files": [...]}          (the last part; no files: come to the front)
    app    -> launch   ok

A selection over 1 MiB of paths goes in parts, so one window gets it all. The app's side is
`InstanceServer` (gui/single_instance.py).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence

from PySide6.QtNetwork import QLocalSocket

from gui.instance_name import server_name

log = logging.getLogger(__name__)

GREETING = "resnet-classifier"
CONNECT_MS = 1000  # a live app accepts at once; a full backlog or a hung app does not
ANSWER_MS = 2000  # each line; the app answers from its UI thread, which only paints
MAX_REQUEST = 1 << 20  # bytes: a line longer than this is not ours
PART = MAX_REQUEST // 2  # a launch sends its paths in lines of about this many bytes


def hand_over(files: Sequence[str], name: str | None = None) -> bool:
    """Give the running app these files (none: bring it to the front); True if it took them.

    False when no app listens, or when one holds the socket but does not answer in time: the
    caller then starts its own window and takes the socket over.
    """
    name = name or server_name()
    if name is None:
        return False
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_MS):
        log.info("no running app at %s (%s)", name, socket.errorString())
        return False
    try:
        greeting = read_line(socket, ANSWER_MS).split()
        if len(greeting) != 2 or greeting[0] != GREETING:
            log.info("the app at %s did not greet within %d ms", name, ANSWER_MS)
            return False
        _allow_to_come_forward(int(greeting[1]) if greeting[1].isdigit() else 0)
        for line in requests(files):
            socket.write(line)
            while socket.bytesToWrite() > 0:
                if not socket.waitForBytesWritten(ANSWER_MS):
                    log.info("the app at %s stopped reading the files", name)
                    return False
        answer = read_line(socket, ANSWER_MS)
        if answer != "ok":
            log.info("the app at %s did not take the files (%r)", name, answer)
        return answer == "ok"
    finally:
        socket.abort()


def requests(files: Sequence[str]) -> Iterator[bytes]:
    """The lines that hand `files` over: parts of about `PART` bytes, the last without "more"."""
    part: list[str] = []
    size = 0
    for path in (_absolute(f) for f in files):
        cost = len(json.dumps(path)) + 2
        if part and size + cost > PART:
            yield _line(part, more=True)
            part, size = [], 0
        part.append(path)
        size += cost
    yield _line(part, more=False)


def _line(files: list[str], more: bool) -> bytes:
    # ASCII JSON: a name that is not UTF-8 travels as its \udcXX escapes and comes back whole.
    request: dict[str, object] = {"files": files}
    if more:
        request["more"] = True
    return (json.dumps(request) + "\n").encode("ascii")


def read_line(socket: QLocalSocket, timeout_ms: int) -> str:
    while not socket.canReadLine():
        if socket.bytesAvailable() > MAX_REQUEST or not socket.waitForReadyRead(timeout_ms):
            return ""
    return bytes(socket.readLine()).decode("utf-8", "replace").strip()


def _absolute(path: str) -> str:
    """The running app has its own working folder: relative paths are made absolute here."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", path):  # a URL, as some launchers pass
        return path
    return os.path.abspath(path)


def _allow_to_come_forward(pid: int) -> None:
    """Windows lets only the foreground process give the foreground away: this launch has it."""
    if sys.platform == "win32" and pid:
        import ctypes

        ctypes.windll.user32.AllowSetForegroundWindow(pid)


def answers(name: str) -> bool:
    """Does an app greet at this name? (A stale socket refuses; a hung app stays silent.)"""
    socket = QLocalSocket()
    socket.connectToServer(name)
    try:
        if not socket.waitForConnected(CONNECT_MS):
            return False
        return read_line(socket, ANSWER_MS).startswith(GREETING)
    finally:
        socket.abort()
