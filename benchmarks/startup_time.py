"""Time to window: `resnet-classifier` against a bare PySide6 window, launched alternately.

    .venv/bin/python -m benchmarks.startup_time [--runs 15]

Each run is a fresh process; the clock runs from spawning it until it reports its window's
first paint (the app's hidden `--startup-probe` flag, and the same probe in a bare
QMainWindow). Prints medians, the ratio (the target is at most 1.5) and whether torch had
been imported by the first paint (it must not have been). Uses $DISPLAY if set, else offscreen.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BARE_WINDOW = """
import json, os, sys
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow

app = QApplication(sys.argv[:1])
window = QMainWindow()
window.setWindowTitle("bare")
window.resize(980, 680)

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and obj is window:
            print(json.dumps({"torch_loaded": "torch" in sys.modules}), flush=True)
            os._exit(0)
        return False

probe = FirstPaint()
window.installEventFilter(probe)
window.show()
app.exec()
"""


def launch(command: list[str], env: dict[str, str]) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seconds = time.perf_counter() - start
    proc.wait(timeout=60)
    return seconds, json.loads(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    # This checkout's gui/ and core/ come first, also through the installed launcher (an
    # editable install elsewhere would otherwise be what is timed).
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    )
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    bare_cmd = [sys.executable, "-c", BARE_WINDOW]
    # The installed launcher, as a user starts it; `python -m gui` where there is none.
    script = Path(sys.executable).with_name("resnet-classifier")
    app_cmd = (
        [sys.executable, str(script)] if script.is_file() else [sys.executable, "-m", "gui"]
    ) + ["--startup-probe"]
    # Run from bytecode, as an installed app does (PYTHONDONTWRITEBYTECODE would hide that).
    compileall.compile_dir(root / "gui", quiet=1)
    compileall.compile_dir(root / "core", quiet=1)
    launch(bare_cmd, env)  # warm the file cache for both
    launch(app_cmd, env)
    bare, app, torch_seen = [], [], False
    for _ in range(args.runs):
        seconds, _record = launch(bare_cmd, env)
        bare.append(seconds)
        seconds, record = launch(app_cmd, env)
        app.append(seconds)
        torch_seen |= bool(record.get("torch_loaded"))
    b, a = statistics.median(bare), statistics.median(app)
    platform = env.get("QT_QPA_PLATFORM") or ("xcb" if env.get("DISPLAY") else "wayland")
    print(f"platform: {platform}, runs: {args.runs} each, alternating")
    print(f"bare PySide6 window: median {b * 1000:.0f} ms (min {min(bare) * 1000:.0f})")
    print(f"resnet-classifier:   median {a * 1000:.0f} ms (min {min(app) * 1000:.0f})")
    print(f"ratio: {a / b:.2f} (target <= 1.5); torch imported before first paint: {torch_seen}")
    return 0 if a / b <= 1.5 and not torch_seen else 1


if __name__ == "__main__":
    raise SystemExit(main())
