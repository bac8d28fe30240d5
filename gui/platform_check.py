"""Before Qt opens a window on Linux/X11: are the xcb plugin's libraries there, and does the X
display answer? Qt itself answers either failure with the same misleading lines ("From 6.5.0,
xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform plugin") and an abort,
even when libxcb-cursor0 is installed and it is the display that cannot be reached (seen when
the app started while the X server was still starting). This says which, in words a person can
act on, and gives an X server that is starting a few seconds to come up.

No Qt here: it runs before QApplication, and imports only the standard library.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

# The system libraries PySide6's xcb plugin and QtGui load (readelf -d: NEEDED of libqxcb.so,
# libQt6XcbQpa.so.6 and libQt6Gui.so.6, PySide6 6.11), and the Debian/Ubuntu packages that hold
# them. A plain desktop has most; a server or container image lacks several.
XCB_LIBRARIES = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}
APT_INSTALL = "sudo apt install " + " ".join(dict.fromkeys(XCB_LIBRARIES.values()))
WAIT_FOR_DISPLAY_S = 5.0


def uses_xcb(environ: dict[str, str] | os._Environ = os.environ) -> bool:
    """Whether Qt will try its xcb plugin: Linux, and no other platform asked for."""
    if not sys.platform.startswith("linux"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "")
    if asked:
        return asked.split(":")[0].split(";")[0] == "xcb"
    return not (environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY"))


def missing_packages(load: Callable[[str], object] | None = None) -> list[str]:
    """The apt packages whose library the xcb plugin needs and the system cannot load."""
    if load is None:
        import ctypes  # only where xcb is used: the offscreen and Wayland starts skip it

        load = ctypes.CDLL
    missing = []
    for library, package in XCB_LIBRARIES.items():
        try:
            load(library)
        except OSError:
            missing.append(package)
    return missing


def display_socket(display: str) -> tuple[int, object] | None:
    """(address family, address) of the X server for DISPLAY ":1", "unix:1", "host:1.0"."""
    import socket

    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return None
    if host in ("", "unix") or host.startswith("/"):
        return socket.AF_UNIX, f"/tmp/.X11-unix/X{number}"
    return socket.AF_INET, (host, 6000 + int(number))


def display_answers(display: str, wait_s: float = WAIT_FOR_DISPLAY_S) -> bool:
    """Whether the X server of `display` accepts a connection within `wait_s` seconds."""
    address = display_socket(display)
    if address is None:
        return True  # a form we do not know: let Qt try it
    import socket

    family, where = address
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect(where)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


def problem(environ: dict[str, str] | os._Environ = os.environ) -> str | None:
    """What stops Qt from opening a window here, as a sentence with the fix; None if nothing."""
    if not uses_xcb(environ):
        return None
    # The screen first: without one, the libraries do not matter (a server reached over SSH
    # needs DISPLAY or offscreen, not packages for a window it cannot show).
    display = environ.get("DISPLAY", "")
    if not display:
        return (
            "cannot open a window: there is no screen (DISPLAY is not set). Start it from a "
            "desktop session, or for a test without a screen set QT_QPA_PLATFORM=offscreen."
        )
    if not display_answers(display):
        return (
            f"cannot open a window: the X display {display} does not answer (no X server "
            f"running there, or it has not started yet). Check DISPLAY, or start the app again "
            "once the desktop is up."
        )
    # The frozen app carries what it needs (its .deb declares the rest): only the display counts.
    missing = [] if getattr(sys, "frozen", False) else missing_packages()
    if missing:
        names = " ".join(missing)
        return (
            "cannot open a window: Qt's X11 plugin needs system libraries that are missing. "
            f"Install them with: sudo apt install {names}"
        )
    return None
