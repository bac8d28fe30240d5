"""Issue 16: PySide6 6.12.0 drops a reference to True on every emit and to None on every
singleShot; on Python 3.11 the app aborts after ~20,000 images. Each check runs in a child
process, so that such an abort fails the test instead of killing the test run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PATTERN = textwrap.dedent(
    """
    import json, os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
    app = QCoreApplication([])

    class Worker(QObject):
        done = Signal(int, bool)

    worker = Worker()
    seen = [0]
    def count(i, ok):
        seen[0] += 1
    worker.done.connect(count)
    before = [sys.getrefcount(x) for x in (True, False, None)]
    for i in range(5000):
        worker.done.emit(i, i % 2 == 0)
    fired = [0]
    def fire():
        fired[0] += 1
    for _ in range(5000):
        QTimer.singleShot(0, fire)
    while fired[0] < 5000:
        app.processEvents()
    after = [sys.getrefcount(x) for x in (True, False, None)]
    print(json.dumps({"lost": [b - a for b, a in zip(before, after)], "seen": seen[0]}))
    """
)


def run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_bool_signals_and_single_shots_keep_true_false_and_none_alive() -> None:
    done = run(["-c", PATTERN], timeout=120)
    assert done.returncode == 0, f"the Qt process died:\n{done.stderr[-2000:]}"
    record = json.loads(done.stdout)
    assert record["seen"] == 5000
    # A few references may come or go with interpreter caches; the bug loses thousands.
    assert all(lost < 50 for lost in record["lost"]), record


def test_the_app_refuses_a_leaking_pyside6_in_its_self_test() -> None:
    """Whatever version is installed, the probe agrees with the pattern above."""
    from gui.compat import signal_refcount_leak

    assert not signal_refcount_leak(), "this environment has a PySide6 that leaks references"


def soak(checkpoint: Path, folder: Path, images: int, timeout: float) -> dict:
    args = ["tests/gui/soak_window.py", "--images", str(images), "--weights", str(checkpoint)]
    done = run([*args, "--folder", str(folder)], timeout=timeout)
    assert done.returncode == 0, f"the window's process died:\n{done.stderr[-2000:]}"
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["finished"] and record["rows"] == record["filled"] == images, record
    for name in ("true_lost", "none_lost", "false_lost"):
        # Counts may rise (the results hold references); 6.12.0 makes them fall by thousands.
        assert record[name] < 100, record
    assert record["alive_ms"] < 5000, record
    return record


def test_the_window_survives_a_short_soak(checkpoint: Path, tmp_path: Path) -> None:
    """40 images through the real window in a child process: it finishes, every row filled,
    and answers at once. The lost reference per emit itself is caught by the pattern above."""
    soak(checkpoint, tmp_path / "soak", images=40, timeout=900)


@pytest.mark.slow
def test_the_window_survives_3000_classifications(checkpoint: Path, tmp_path: Path) -> None:
    """The long soak (about 30 min on 2 busy cores): run with `make test-slow`; CI runs it."""
    soak(checkpoint, tmp_path / "soak", images=3000, timeout=3600)
