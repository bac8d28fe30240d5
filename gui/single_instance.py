"""One window per user session: the running app takes the files later launches hand over.

A launch first asks the running app over a local socket (`QLocalSocket`: a Unix socket, a named
pipe on Windows; gui/hand_over.py is the launch's side and the exchange). If the app greets it,
the launch sends its files and exits. Otherwise it starts the window and listens
(`InstanceServer`). A socket left behind by a crash, or held by an app that does not answer
within a few seconds (hung), is taken over. On macOS, Finder sends files to the running app
itself (gui/file_open.py).

Who may connect: the socket lives where only this user can reach it (gui/instance_name.py); each
connection's peer must be this user (SO_PEERCRED). On Windows the pipe's ACL is this user's.
"""

from __future__ import annotations

import json
import logging
import os
import socket as pysocket
import struct
import sys
import time

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

from gui.hand_over import GREETING, MAX_REQUEST, answers
from gui.instance_name import server_name

log = logging.getLogger(__name__)

MAX_FILES = 200_000  # paths in one hand-over, all parts together
MAX_CLIENTS = 16  # launches talking at once; more are hung up on
IDLE_S = 5.0  # a launch that sends nothing for this long is hung up on


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
        if answers(self.name):
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
