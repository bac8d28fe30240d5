"""What a hostile folder does to the window: nothing that blocks it, floods it or breaks export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from core.errors import ImageReadError
from gui.worker import decode_for_display

ROOT = Path(__file__).resolve().parents[2]


def test_preview_of_a_fifo_or_a_device_never_opens_it(tmp_path: Path):
    # In a child process: Qt's reader blocks in `open` holding the GIL, so a regression would
    # freeze this very process; the child is killed after its timeout instead.
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    code = (
        "import sys\n"
        "from core.errors import ImageReadError\n"
        "from gui.worker import decode_for_display\n"
        "for source in sys.argv[1:]:\n"
        "    try:\n"
        "        decode_for_display(source, 256)\n"
        "    except ImageReadError as exc:\n"
        "        print(exc.message)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(fifo), "/dev/zero"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        timeout=60,
    )
    assert out.stdout.splitlines() == [
        "x.jpg: not a regular file (a pipe, a device or a system file).",
        "zero: not a regular file (a pipe, a device or a system file).",
    ], out.stderr


def test_a_huge_canvas_is_refused_for_preview_not_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # A tiny lossless WebP (Qt cannot read WebP here) whose canvas is over the preview limit.
    path = tmp_path / "canvas.webp"
    Image.new("RGB", (3000, 3000), "white").save(path, lossless=True)
    assert path.stat().st_size < 10_000
    import gui.worker

    monkeypatch.setattr(gui.worker, "PREVIEW_MAX_PIXELS", 4_000_000)
    with pytest.raises(ImageReadError, match=r"canvas\.webp: too large to preview"):
        decode_for_display(str(path), 256)
