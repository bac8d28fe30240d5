"""One window per user session: a second launch hands its files to the window already open.

A launch first asks the running app over a local socket (`QLocalSocket`: a Unix socket, a named
pipe on Windows). If the app greets it, the launch sends the files it was given and exits, having
imported only QtCore and QtNetwork: no widgets, no torch. Otherwise it starts the window and
listens (`InstanceServer`). A socket left behind by a crash, or held by an app that does not
answer within a few seconds (hung), is taken over. On macOS, Finder sends files to the running
app itself, as `QFileOpenEvent`s: `FileOpenCollector` turns them into one request.

The exchange, UTF-8 lines (JSON with non-ASCII escaped, so names that are not UTF-8 survive):

    app    -> launch   resnet-classifier <pid>
    launch -> app      {"files": ["/abs/path.jpg", ...], "more": true}   (a part of a big list)
    launch -> app      {"files": [...]}          (the last part; no files: come to the front)
    app    -> launch   ok

Who may connect: on Linux the socket lives in `XDG_RUNTIME_DIR`, else in a folder of the temp
folder that only this user may enter (its owner and mode are checked before each use: a folder
someone else made first is not used, and the app runs without taking hand-overs); each
connection's peer must be this user (SO_PEERCRED). On Windows the pipe's ACL is this user's.
A selection over 1 MiB of paths goes in parts, so one window gets it all.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import socket as pysocket
import stat
import struct
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

GREETING = "resnet-classifier"
CONNECT_MS = 1000  # a live app accepts at once; a full backlog or a hung app does not
ANSWER_MS = 2000  # each line; the app answers from its UI thread, which only paints
MAX_REQUEST = 1 << 20  # bytes: a line longer than this is not ours
PART = MAX_REQUEST // 2  # a launch sends its paths in lines of about this many bytes
MAX_FILES = 200_000  # paths in one hand-over, all parts together
MAX_CLIENTS = 16  # launches talking at once; more are hung up on
IDLE_S = 5.0  # a launch that sends nothing for this long is hung up on
NAME_ENV = "RESNET_CLASSIFIER_INSTANCE"  # another socket name (tests, or two apps on purpose)


def server_name() -> str | None:
    """Per user, and on Linux per display: a window on another screen is not "this" window.

    None when there is no folder only this user can enter (see `private_folder`).
    """
    override = os.environ.get(NAME_ENV, "").strip()
    if override:
        return override
    if sys.platform in ("win32", "darwin"):  # a named pipe; a socket in the per-user TMPDIR
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a container, say)
            user = "user"
        return f"resnet-classifier-{_safe(user) or 'user'}"
    display = _safe(os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY") or "")
    folder = private_folder()
    if folder is None:
        return None
    name = f"resnet-classifier-{display}" if display else "resnet-classifier"
    return os.path.join(folder, f"{name}.sock")


def private_folder() -> str | None:
    """`XDG_RUNTIME_DIR`, else `<temp>/resnet-classifier-<uid>` (made 0700); None if neither is
    a folder of this user's alone, so that no other user can take the socket or reach it."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and _ours_alone(runtime):
        return runtime
    folder = os.path.join(tempfile.gettempdir(), f"resnet-classifier-{os.getuid()}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass  # ours from before, or someone else's: checked below
    except OSError as exc:
        log.warning("cannot make %s (%s): later launches open windows of their own", folder, exc)
        return None
    if not _ours_alone(folder):
        log.warning(
            "not using %s for the single-instance socket: it is not a folder of this user's "
            "alone; later launches open windows of their own",
            folder,
        )
        return None
    return folder


def _ours_alone(folder: str) -> bool:
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


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
        greeting = _read_line(socket, ANSWER_MS).split()
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
        answer = _read_line(socket, ANSWER_MS)
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


def peer_uid(socket: QLocalSocket) -> int | None:
    """The user id of the process at the other end (Linux); None where it cannot be known."""
    if not hasattr(pysocket, "SO_PEERCRED"):
        return None
    fd = int(socket.socketDescriptor())
    if fd < 0:
        return -1
    try:
        peer = pysocket.fromfd(fd, pysocket.AF_UNIX, pysocket.SOCK_STREAM)  # a duplicate
    except OSError:
        return -1  # out of descriptors: not known, so not let in
    try:
        creds = peer.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return -1
    finally:
        peer.close()
    return struct.unpack("3i", creds)[1]


class InstanceServer(QObject):
    """Listens for later launches; emits what each one was asked to open.

    It hangs up on launches of other users, on the oldest of more than `MAX_CLIENTS` at once
    (so a flood of silent connections cannot keep a real launch out), on any that stays silent for `IDLE_S` and on malformed lines; should the server itself close (Qt's accept
    failing when descriptors run out), it listens again.
    """

    # absolute paths (a list; object, not list: Qt would drop the bytes of a non-UTF-8 name);
    # an empty list asks the window to come forward
    filesReceived = Signal(object)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self._server = QLocalServer(self)
        if sys.platform == "win32":  # the pipe's ACL: this user only
            self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        # Not on Unix: there Qt binds elsewhere and renames over the name, silently taking a live
        # app's socket. Without it, a taken name fails with AddressInUseError; others cannot
        # reach the socket in a folder of this user's alone, and their connections are refused.
        self._server.newConnection.connect(self._on_connection)
        self._clients: dict[QLocalSocket, tuple[float, list[str]]] = {}
        self._listening = False
        self._watch = QTimer(self)
        self._watch.setInterval(1000)
        self._watch.timeout.connect(self._look_after)

    def listen(self) -> bool:
        """Take the name; False (and the app runs on alone) when a live app already holds it."""
        self._listening = self._listen()
        if self._listening:
            self._watch.start()
        return self._listening

    def _listen(self) -> bool:
        if self.name is None:
            return False
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
        self._listening = False
        self._watch.stop()
        for socket in list(self._clients):
            self._drop(socket)
        self._server.close()

    def is_listening(self) -> bool:
        return self._server.isListening()

    def _look_after(self) -> None:
        """Hang up on silent launches; listen again if Qt closed the server (accept failed)."""
        now = time.monotonic()
        for socket, (since, _files) in list(self._clients.items()):
            if now - since > IDLE_S:
                log.warning("hanging up on a launch that sent nothing for %.0f s", IDLE_S)
                self._drop(socket)
        if self._listening and not self._server.isListening():
            log.warning(
                "the hand-over server closed (%s); listening again", self._server.errorString()
            )
            if not self._listen():
                log.warning("cannot listen again at %s; will try again", self.name)

    def _on_connection(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            uid = peer_uid(socket)
            if uid is not None and uid != os.getuid():
                log.warning("refused a hand-over from user id %d: only this user's launches", uid)
                socket.abort()
                socket.deleteLater()
                continue
            if len(self._clients) >= MAX_CLIENTS:  # a flood: the oldest gives way to the newest
                log.warning("%d launches are connected: hanging up on the oldest", MAX_CLIENTS)
                self._drop(next(iter(self._clients)))
            self._clients[socket] = (time.monotonic(), [])
            socket.disconnected.connect(self._on_disconnected)
            socket.readyRead.connect(self._on_ready_read)
            socket.write(f"{GREETING} {os.getpid()}\n".encode())

    def _on_disconnected(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._clients.pop(socket, None)
            socket.deleteLater()

    def _drop(self, socket: QLocalSocket) -> None:
        self._clients.pop(socket, None)
        socket.abort()
        socket.deleteLater()

    def _on_ready_read(self) -> None:
        # sender(), not a lambda holding the socket: a lambda's reference made PySide 6.11
        # crash when deleteLater freed the socket.
        socket = self.sender()
        if not isinstance(socket, QLocalSocket) or socket not in self._clients:
            return
        while socket.canReadLine():
            line = bytes(socket.readLine()).decode("utf-8", "replace")
            if not self._take(socket, line):
                return
        if socket.bytesAvailable() > MAX_REQUEST:
            log.warning("ignoring a request from another launch: a line over %d bytes", MAX_REQUEST)
            self._drop(socket)

    def _take(self, socket: QLocalSocket, line: str) -> bool:
        """One line of a launch's request; False once the connection is done with."""
        _since, files = self._clients[socket]
        try:
            request = json.loads(line)
            part = request["files"]
            if not isinstance(part, list) or not all(isinstance(f, str) for f in part):
                raise TypeError("files is not a list of paths")
            if len(files) + len(part) > MAX_FILES:
                raise ValueError(f"more than {MAX_FILES} paths")
        except (ValueError, KeyError, TypeError, RecursionError) as e:
            log.warning("ignoring a malformed request from another launch: %.200s", e)
            socket.write(b"error\n")
            socket.flush()
            self._clients.pop(socket, None)
            socket.disconnectFromServer()
            return False
        files.extend(part)
        if request.get("more") is True:
            self._clients[socket] = (time.monotonic(), files)
            return True
        socket.write(b"ok\n")
        socket.flush()
        self._clients.pop(socket, None)
        socket.disconnectFromServer()
        log.info("another launch handed over %d files", len(files))
        self.filesReceived.emit(files)
        return False


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
