"""Where the single-instance socket lives, and that only this user can reach it.

Per user, and on Linux per display. On Linux the socket lives in `XDG_RUNTIME_DIR`, else in a
folder of the temp folder that only this user may enter: its owner and mode are checked before
each use, and a folder someone else made first is not used (the app then runs without taking
hand-overs). On Windows and macOS the name is a named pipe or a socket in the per-user TMPDIR.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import stat
import sys
import tempfile

log = logging.getLogger(__name__)

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
