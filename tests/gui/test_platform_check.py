"""Before Qt: a missing X11 library or a display that does not answer is said in words, with
the fix, instead of Qt's misleading "xcb-cursor0 ... is needed" and an abort."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gui import platform_check

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 is Linux's")


def free_display() -> str:
    taken = {p.name for p in Path("/tmp/.X11-unix").glob("X*")}
    return next(f":{n}" for n in range(170, 300) if f"X{n}" not in taken)


@linux_only
def test_a_missing_library_names_the_apt_package(monkeypatch):
    def load(name: str) -> object:
        if name == "libxcb-cursor.so.0":
            raise OSError(f"{name}: cannot open shared object file")
        return object()

    original = platform_check.missing_packages
    monkeypatch.setattr(platform_check, "missing_packages", lambda: original(load))
    monkeypatch.setattr(platform_check, "display_answers", lambda display: True)
    why = platform_check.problem({"DISPLAY": ":0"})
    assert why is not None and why.endswith("sudo apt install libxcb-cursor0")


@linux_only
def test_only_xcb_is_checked():
    assert not platform_check.uses_xcb({"QT_QPA_PLATFORM": "offscreen"})
    assert platform_check.uses_xcb({"QT_QPA_PLATFORM": "xcb"})
    assert platform_check.uses_xcb({})
    assert not platform_check.uses_xcb({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "w-0"})
    assert platform_check.problem({"QT_QPA_PLATFORM": "offscreen"}) is None


@linux_only
def test_no_display_and_a_silent_display_are_told_apart(tmp_path):
    assert "DISPLAY is not set" in (platform_check.problem({}) or "")
    assert not platform_check.display_answers(free_display(), wait_s=0.3)


@linux_only
def test_a_display_that_comes_up_late_is_waited_for(tmp_path, monkeypatch):
    """An X server still starting when the app starts: the window waits, it does not abort."""
    path = tmp_path / "X5"
    monkeypatch.setattr(
        platform_check, "display_socket", lambda display: (socket.AF_UNIX, str(path))
    )
    server = socket.socket(socket.AF_UNIX)
    calls = []

    def late_sleep(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 2:
            server.bind(str(path))
            server.listen(1)

    monkeypatch.setattr(platform_check.time, "sleep", late_sleep)
    try:
        assert platform_check.display_answers(":5", wait_s=30)
    finally:
        server.close()
    assert len(calls) == 2


@linux_only
def test_the_app_says_why_instead_of_aborting():
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = free_display()
    env["XDG_SESSION_TYPE"] = "x11"
    done = subprocess.run(
        [sys.executable, "-m", "gui", "--device", "cpu"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert f"the X display {env['DISPLAY']} does not answer" in done.stderr
    assert "xcb-cursor0" not in done.stderr and "Aborted" not in done.stderr
