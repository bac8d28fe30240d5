"""One window per user session: a second launch hands its files to the window already open.

A launch first asks the running app over a local socket (`QLocalSocket`: a Unix socket, a named
pipe on Windows). If the app greets it, the launch sends the files it was given and exits, having
imported only QtCore and QtNetwork: no widgets, no torch. Otherwise it starts the window and
listens (`InstanceServer`). A socket left behind by a crash, or held by an app that does not
answer within a few seconds (hung), is taken over. On macOS, Finder sends files to the running
app itself, as `QFileOpenEvent`s: `FileOpenCollector` turns them into one request.

The exchange, one line each way, UTF-8:

    app    -> launch   resnet-classifier <pid>
    launch -> app      {"files": ["/abs/path.jpg", ...]}   (no files: come to the front)
    app    -> launch   ok
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import sys
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

GREETING = "resnet-classifier"
CONNECT_MS = 1000  # a live app accepts at once; a full backlog or a hung app does not
ANSWER_MS = 2000  # each line; the app answers from its UI thread, which only paints
MAX_REQUEST = 1 << 20  # bytes: a line longer than this is not ours
NAME_ENV = "RESNET_CLASSIFIER_INSTANCE"  # another socket name (tests, or two apps on purpose)


def server_name() -> str:
    """Per user, and on Linux per display: a window on another screen is not "this" window."""
    override = os.environ.get(NAME_ENV, "").strip()
    if override:
        return override
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container, say)
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    user = _safe(user) or "user"
    if sys.platform in ("win32", "darwin"):  # a named pipe; a socket in the per-user TMPDIR
        return f"resnet-classifier-{user}"
    display = _safe(os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY") or "")
    name = f"resnet-classifier-{display}" if display else "resnet-classifier"
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime):  # per user, mode 0700, emptied at log-out
        return os.path.join(runtime, f"{name}.sock")
    return f"{name}-{user}"  # a socket in /tmp (see InstanceServer on who may connect)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def hand_over(files: Sequence[str], name: str | None = None) -> bool:
    """Give the running app these files (none: bring it to the front); True if it took them.

    False when no app listens, or when one holds the socket but does not answer in time: the
    caller then starts its own window and takes the socket over.
    """
    name = name or server_name()
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_MS):
        log.info("no running app at %s (%s)", name, socket.errorString())
        return False
    try:
        greeting = _read_line(socket, ANSWER_MS).split()
        if len(greeting) != 2 or greeting[0] != GREETING:
            log.info("the app at %s did not greet within %d ms", name, ANSWER_MS)
            return False
        _allow_to_come_forward(int(greeting[1]) if greeting[1].isdigit() else 0)
        request = json.dumps({"files": [_absolute(f) for f in files]}, ensure_ascii=False)
        socket.write((request + "\n").encode("utf-8"))
        socket.waitForBytesWritten(ANSWER_MS)
        answer = _read_line(socket, ANSWER_MS)
        if answer != "ok":
            log.info("the app at %s did not take the files (%r)", name, answer)
        return answer == "ok"
    finally:
        socket.abort()


def _read_line(socket: QLocalSocket, timeout_ms: int) -> str:
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


class InstanceServer(QObject):
    """Listens for later launches; emits what each one was asked to open."""

    filesReceived = Signal(list)  # absolute paths; an empty list asks the window to come forward

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self._server = QLocalServer(self)
        if sys.platform == "win32":  # the pipe's ACL: this user only
            self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        # Not on Unix: there Qt binds elsewhere and renames over the name, silently taking a live
        # app's socket. Without it, a taken name fails with AddressInUseError; others cannot
        # connect (the socket is not writable by them under the usual umask, and the runtime
        # folder is the user's alone).
        self._server.newConnection.connect(self._on_connection)

    def listen(self) -> bool:
        """Take the name; False (and the app runs on alone) when a live app already holds it."""
        if self._server.listen(self.name):
            return True
        if self._server.serverError() != QAbstractSocket.SocketError.AddressInUseError:
            log.warning("cannot listen at %s: %s", self.name, self._server.errorString())
            return False
        if _answers(self.name):
            log.info("another app answers at %s; this one will not take later launches", self.name)
            return False
        log.info("taking over %s: whoever held it does not answer", self.name)
        QLocalServer.removeServer(self.name)
        if self._server.listen(self.name):
            return True
        log.warning("cannot listen at %s: %s", self.name, self._server.errorString())
        return False

    def close(self) -> None:
        self._server.close()

    def _on_connection(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.disconnected.connect(socket.deleteLater)
            socket.readyRead.connect(self._on_ready_read)
            socket.write(f"{GREETING} {os.getpid()}\n".encode())

    def _on_ready_read(self) -> None:
        # sender(), not a lambda holding the socket: a lambda's reference made PySide 6.11
        # crash when deleteLater freed the socket.
        socket = self.sender()
        if not isinstance(socket, QLocalSocket):
            return
        if not socket.canReadLine():
            if socket.bytesAvailable() > MAX_REQUEST:
                socket.abort()
            return
        line = bytes(socket.readLine()).decode("utf-8", "replace")
        try:
            files = json.loads(line)["files"]
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise TypeError("files is not a list of paths")
        except (ValueError, KeyError, TypeError) as e:
            log.warning("ignoring a malformed request from another launch: %s", e)
            socket.write(b"error\n")
            socket.disconnectFromServer()
            return
        socket.write(b"ok\n")
        socket.flush()
        socket.disconnectFromServer()
        log.info("another launch handed over %d files", len(files))
        self.filesReceived.emit(files)


def _answers(name: str) -> bool:
    """Does an app greet at this name? (A stale socket refuses; a hung app stays silent.)"""
    socket = QLocalSocket()
    socket.connectToServer(name)
    try:
        if not socket.waitForConnected(CONNECT_MS):
            return False
        return _read_line(socket, ANSWER_MS).startswith(GREETING)
    finally:
        socket.abort()


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
