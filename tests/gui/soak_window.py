"""Soak the real window: classify N generated images in one folder, then report as JSON.

Run in a process of its own (a refcount bug in Qt for Python aborts the interpreter, and the
test must see that as a failure rather than die with it):

    python tests/gui/soak_window.py --images 3000 --weights ckpt.pth --folder /tmp/soak

Prints {"rows": ..., "filled": ..., "true_lost": ..., "none_lost": ..., "false_lost": ...,
"alive_ms": ...}: the refcounts of True/None/False lost between the model being ready and the
end of the run, and how long the window then took to answer a queued call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def make_images(folder: Path, count: int) -> None:
    """`count` small distinct PNGs (a gradient shifted per image); kept if already there."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.png"))) == count:
        return
    ramp = np.linspace(0, 255, 48, dtype=np.float32)
    base = np.stack([*np.meshgrid(ramp, ramp[::-1]), np.full((48, 48), 128.0)], axis=-1)
    for i in range(count):
        pixels = ((base + i * 7) % 256).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:06d}.png")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=3000)
    p.add_argument("--weights", required=True)
    p.add_argument("--folder", required=True, type=Path)
    p.add_argument("--timeout", type=float, default=3600)
    args = p.parse_args()
    make_images(args.folder, args.images)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.settings import Settings
    from gui.window import MainWindow

    app = QApplication([])  # noqa: F841  (kept alive for the run)
    window = MainWindow(Settings.in_memory(), weights=args.weights, interactive=False)
    window.show()

    def wait_for(signal) -> bool:  # type: ignore[no-untyped-def]
        loop = QEventLoop()
        signal.connect(loop.quit)
        timer = QTimer(singleShot=True, interval=int(args.timeout * 1000))
        timer.timeout.connect(lambda: loop.exit(1))
        timer.start()
        return loop.exec() == 0

    window.start()
    if not wait_for(window.modelReady):
        print(json.dumps({"error": "the model did not load"}))
        return 1
    counts = (sys.getrefcount(True), sys.getrefcount(None), sys.getrefcount(False))
    window.open_sources([str(args.folder)])
    finished = wait_for(window.runFinished)
    after = (sys.getrefcount(True), sys.getrefcount(None), sys.getrefcount(False))

    # Still responsive: a queued call on the UI thread runs promptly.
    t0 = time.perf_counter()
    loop = QEventLoop()
    QTimer.singleShot(0, loop.quit)
    loop.exec()
    alive_ms = (time.perf_counter() - t0) * 1000

    items = window.items()
    record = {
        "finished": finished,
        "rows": len(items),
        "filled": sum(1 for item in items if item.result is not None and item.result.ok),
        "true_lost": counts[0] - after[0],
        "none_lost": counts[1] - after[1],
        "false_lost": counts[2] - after[2],
        "alive_ms": round(alive_ms, 2),
    }
    print(json.dumps(record), flush=True)
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
