"""Time to window: `resnet-classifier` against a bare PySide6 window, launched alternately.

    .venv/bin/python -m benchmarks.startup_time [--runs 15] [--against OTHER_CHECKOUT]

Each run is a fresh process; the clock runs from spawning it until it reports its window's
first paint (the app's hidden `--startup-probe` flag, and the same probe in a bare
QMainWindow). Prints medians, the ratio (the target is at most 1.5) and whether torch had
been imported by the first paint (it must not have been). Uses $DISPLAY if set, else offscreen.
With `--against CHECKOUT` the baseline is the app of another checkout instead of a bare window
(a change's before and after, launched the same way, taking turns).
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


def launch(command: list[str], env: dict[str, str]) -> tuple[float, float, dict]:
    """Wall seconds to the first paint, CPU seconds the process used, and its record.

    The probes exit at their first paint, so the process's CPU time is what it took to get
    there: unlike the wall time, it hardly moves when other programs share the cores.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seconds = time.perf_counter() - start
    cpu = float("nan")
    if hasattr(os, "wait4"):
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
    proc.wait(timeout=60)
    proc.stdout.close()
    return seconds, cpu, json.loads(line)


def checkout_env(base: dict[str, str], root: Path) -> dict[str, str]:
    """`base` with `root`'s gui/ and core/ first on the path, also for the installed launcher
    (an editable install of another checkout would otherwise be what is timed)."""
    path = os.pathsep.join(filter(None, [str(root), base.get("PYTHONPATH")]))
    return dict(base, PYTHONPATH=path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--against",
        type=Path,
        metavar="CHECKOUT",
        help="time the app of another checkout (e.g. a `git worktree` of an older commit) "
        "instead of a bare window, alternately with this one's",
    )
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    base = dict(os.environ)
    if not base.get("DISPLAY") and not base.get("WAYLAND_DISPLAY"):
        base.setdefault("QT_QPA_PLATFORM", "offscreen")
    env = checkout_env(base, root)
    # The installed launcher, as a user starts it; `python -m gui` where there is none.
    script = Path(sys.executable).with_name("resnet-classifier")
    app_cmd = (
        [sys.executable, str(script)] if script.is_file() else [sys.executable, "-m", "gui"]
    ) + ["--startup-probe"]
    if args.against is not None:
        other = args.against.resolve()
        base_cmd, base_env, base_name = app_cmd, checkout_env(base, other), str(other)
    else:
        other, base_cmd, base_env, base_name = None, [sys.executable, "-c", BARE_WINDOW], env, ""
    # Run from bytecode, as an installed app does (PYTHONDONTWRITEBYTECODE would hide that).
    for checkout in filter(None, (root, other)):
        compileall.compile_dir(checkout / "gui", quiet=1)
        compileall.compile_dir(checkout / "core", quiet=1)
    launch(base_cmd, base_env)  # warm the file cache for both
    launch(app_cmd, env)
    bare, app, bare_cpu, app_cpu, torch_seen = [], [], [], [], False
    for i in range(args.runs):
        # Take turns at going first, so that neither always follows the other.
        for which in (0, 1) if i % 2 == 0 else (1, 0):
            if which == 0:
                seconds, cpu, _record = launch(base_cmd, base_env)
                bare.append(seconds)
                bare_cpu.append(cpu)
            else:
                seconds, cpu, record = launch(app_cmd, env)
                app.append(seconds)
                app_cpu.append(cpu)
                torch_seen |= bool(record.get("torch_loaded"))
    b, a = statistics.median(bare), statistics.median(app)
    b_cpu, a_cpu = statistics.median(bare_cpu), statistics.median(app_cpu)
    platform = base.get("QT_QPA_PLATFORM") or ("xcb" if base.get("DISPLAY") else "wayland")
    print(f"platform: {platform}, runs: {args.runs} each, alternating")
    print(
        f"CPU time to first paint: median {b_cpu * 1000:.0f} ms (baseline), {a_cpu * 1000:.0f} ms"
    )
    if other is not None:
        print(f"{base_name}: median {b * 1000:.0f} ms (min {min(bare) * 1000:.0f})")
        print(f"{root}: median {a * 1000:.0f} ms (min {min(app) * 1000:.0f})")
        print(f"ratio: {a / b:.2f}; torch imported before first paint: {torch_seen}")
        return 0 if not torch_seen else 1
    print(f"bare PySide6 window: median {b * 1000:.0f} ms (min {min(bare) * 1000:.0f})")
    print(f"resnet-classifier:   median {a * 1000:.0f} ms (min {min(app) * 1000:.0f})")
    print(f"ratio: {a / b:.2f} (target <= 1.5); torch imported before first paint: {torch_seen}")
    return 0 if a / b <= 1.5 and not torch_seen else 1


if __name__ == "__main__":
    raise SystemExit(main())
