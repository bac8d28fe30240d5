"""Peak memory of the window classifying a folder of N photos: does it stay flat as N grows?

    python -m benchmarks.folder_memory --weights CKPT.pth --images 10 2000
    python -m benchmarks.folder_memory --weights CKPT.pth --folder /tmp/bombs /tmp/fuzz

For each N it writes N small JPEGs (copies of scikit-image's photos) to a temporary folder
(or takes the folders given, e.g. `tests/hostile_corpus.py`'s), then runs a fresh process that
opens the real window offscreen, drops the folder, scrolls the results table from top to
bottom as results arrive (so every row's thumbnail is made) and reports its resident memory:
after the model loaded, at the end, and the peak (ru_maxrss); and the UI thread's longest
stall (the longest gap between ticks of a 5 ms timer, from the drop to the end of the run).
Not a test: it takes minutes for thousands of photos on a small CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def make_folder(root: Path, count: int) -> Path:
    from PIL import Image
    from skimage import data

    folder = root / f"photos-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    encoded = []
    for name in PHOTOS:
        path = root / f"{name}.jpg"
        if not path.exists():
            Image.fromarray(getattr(data, name)()).convert("RGB").save(path, quality=85)
        encoded.append(path.read_bytes())
    for i in range(count):
        (folder / f"img_{i:05d}.jpg").write_bytes(encoded[i % len(encoded)])
    return folder


def child(folder: str, weights: str) -> dict[str, float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.window import MainWindow
    from tests.gui.stall_meter import StallMeter  # the window test's own meter

    app = QApplication.instance() or QApplication([])
    window = MainWindow(weights=weights, device="cpu", interactive=False)
    window.resize(1000, 700)
    window.show()
    loop = QEventLoop()
    window.modelReady.connect(lambda _: loop.quit())
    window.modelProblem.connect(lambda message: sys.exit(f"model: {message}"))
    window.start()
    loop.exec()
    after_load = _rss_mb()
    samples = [after_load]

    def classified(index: int, _result: object) -> None:
        table = window.table.panel.table if window.table.panel is not None else None
        if table is not None:  # follow the run down the table: every row gets painted
            proxy = window.table.panel.proxy
            table.scrollTo(proxy.mapFromSource(window.table.panel.model.index(index, 0)))
            table.viewport().repaint()
        if index % 100 == 0:
            samples.append(_rss_mb())

    window.itemClassified.connect(classified)
    window.runFinished.connect(loop.quit)
    stalls = StallMeter()
    start = time.perf_counter()
    window.open_sources([folder])
    loop.exec()
    seconds = time.perf_counter() - start
    QTimer.singleShot(500, loop.quit)  # thumbnails still on their way
    loop.exec()
    longest_stall = stalls.stop()
    done = sum(item.result is not None for item in window.items())
    thumbs = window.table.panel.model.thumbnail_count() if window.table.panel is not None else 0
    window.close()
    app.processEvents()
    return {
        "images": len(window.items()),
        "classified": done,
        "seconds": round(seconds, 1),
        "rss_after_model_mb": round(after_load, 1),
        "rss_end_mb": round(_rss_mb(), 1),
        "rss_max_sampled_mb": round(max(samples), 1),
        "peak_rss_mb": round(_peak_mb(), 1),
        "thumbnails_held": thumbs,
        "longest_stall_ms": round(longest_stall * 1000),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.folder_memory", description=__doc__)
    p.add_argument("--weights", required=True, help="a ResNet50 checkpoint (random is fine)")
    p.add_argument("--images", type=int, nargs="+", default=[10, 2000])
    p.add_argument("--folder", type=Path, nargs="+", help="measure these folders instead")
    p.add_argument("--child", metavar="FOLDER", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.weights)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="folder-memory-") as tmp:
        folders = args.folder or [make_folder(Path(tmp), count) for count in args.images]
        for folder in folders:
            command = [
                "-m",
                "benchmarks.folder_memory",
                "--weights",
                args.weights,
                "--child",
                str(folder.resolve()),
            ]
            done = subprocess.run(
                [sys.executable, *command],
                capture_output=True,
                text=True,
                cwd=ROOT,  # this checkout's code, whatever is installed
                env=dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT)),
            )
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print(
        "\n| images | seconds | RSS after model | RSS at end | peak RSS | thumbnails held "
        "| longest UI stall |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['images']} | {r['seconds']} | {r['rss_after_model_mb']} MB "
            f"| {r['rss_end_mb']} MB | {r['peak_rss_mb']} MB | {r['thumbnails_held']} "
            f"| {r['longest_stall_ms']} ms |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
