"""Names from files are shown as text: markup in a class, file or folder name is never obeyed.

Qt guesses "rich text" for labels, message boxes and tooltips, and its rich text loads
`<img src=…>` from local files on the UI thread. Here every class name is markup whose image is
a 300 MB file: obeyed once, the window's memory jumps by that much (with /dev/zero, as a labels
file could say, it read until it aborted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dnd import MODEL_TIMEOUT_MS, RESULT_TIMEOUT_MS, drop, file_urls
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QLabel, QToolTip

from gui.dialogs import error_box
from gui.teach_dialog import TeachDialog

ROOT = Path(__file__).resolve().parents[2]
BOMB = "bomb.bin"  # relative: Qt resolves an image source against the working folder
MARKUP = (
    f"<img src={BOMB} width=3000 height=40>",
    "<h1>headline</h1>",
    "<table width=30000><tr><td>wide</td></tr></table>",
    "\u202eevil right-to-left",
    "<b>" + "x" * 100_000,
)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def texts_shown(widget) -> list[tuple[str, str, object]]:
    """(what, text, format) of every label under `widget` that shows something."""
    return [
        (label.objectName() or type(label.parent()).__name__, label.text(), label.textFormat())
        for label in widget.findChildren(QLabel)
        if label.text()
    ]


@pytest.fixture
def markup_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / BOMB).write_bytes(b"")
    os.truncate(tmp_path / BOMB, 300 << 20)
    monkeypatch.chdir(tmp_path)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(MARKUP[i % len(MARKUP)] for i in range(1000)) + "\n")
    return labels


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS")
def test_markup_class_and_file_names_show_as_text_and_memory_stays_flat(
    qtbot, make_window, markup_labels: Path, photos: dict[str, Path], tmp_path: Path
):
    window = make_window(labels=str(markup_labels))
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.start()
    # warm up: a photo with a plain name classified and painted, then the memory it takes
    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS):
        drop(window, file_urls([photos["rocket"]]))
    window.grab()
    before = rss_mb()

    named = tmp_path / f"<img src={BOMB} width=3000>.jpg"
    shutil.copyfile(photos["chelsea"], named)
    missing = tmp_path / f"<h1>gone<img src={BOMB}>.jpg"
    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS) as classified:
        drop(window, file_urls([named, missing]))
    _, result = classified.args
    assert result.ok and result.top.label in MARKUP
    qtbot.waitUntil(lambda: window.notice.isVisible())
    window.resize(1000, 700)
    window.grab()

    # each label that shows a name shows it as plain text, markup and all
    shown = texts_shown(window)
    from_files = [t for t in shown if "<" in t[1] or "\u202e" in t[1] or "\\u202e" in t[1]]
    assert {w for w, _, _ in from_files} >= {"title", "notice", "PredictionRow"}, shown
    assert all(f == Qt.TextFormat.PlainText for _, _, f in from_files), from_files
    assert "<img src=bomb.bin width=3000>.jpg" in window.panel.title.text()
    assert "<h1>gone<img src=bomb.bin>.jpg: file not found." in window.notice.text()
    bars = [row.label.text() for row in window.panel.bars.rows if row.isVisible()]
    assert bars and all("<" in t or "\\u202e" in t or "x" * 50 in t for t in bars), bars
    assert all(len(t) < 200 for t in bars), "a 100,000-character name is elided"
    # ... and its tooltips hold the text escaped, the table's cells the text itself
    tips = [row.toolTip() for row in window.panel.bars.rows if row.isVisible()]
    tips.append(window.panel.title.toolTip())
    model = window.table.panel.model if window.table.panel is not None else None
    if model is not None:
        for column in range(model.columnCount()):
            index = model.index(model.rowCount() - 1, column)
            tips.append(model.data(index, Qt.ItemDataRole.ToolTipRole) or "")
    assert all(t.startswith("<qt>") and "<img" not in t[4:] for t in tips if t), tips
    for text in tips:  # shown, as a user hovering would
        QToolTip.showText(QPoint(10, 10), text, window)
        QApplication.processEvents()
    QToolTip.hideText()

    # the window keeps a sane size and did not read the 300 MB "image"
    assert window.minimumSizeHint().width() < 1400
    assert window.panel.sizeHint().width() < 1400
    window.grab()
    assert rss_mb() - before < 150, f"memory grew {rss_mb() - before:.0f} MB"


def test_markup_in_an_error_dialog_is_text(qtbot, markup_labels: Path):
    box = error_box(None, "Could not open", f"<img src={BOMB} width=3000>: file not found.")
    qtbot.addWidget(box)
    labels = [label for label in box.findChildren(QLabel) if "<img" in label.text()]
    assert labels and all(label.textFormat() == Qt.TextFormat.PlainText for label in labels)
    assert box.sizeHint().width() < 1400
    box.close()


def test_markup_folder_and_class_names_keep_the_teach_dialog_small(
    qtbot, tmp_path: Path, photos: dict[str, Path], markup_labels: Path
):
    root = tmp_path / "<h1>album"
    for name in ("<img width=3000 height=40>", "<table width=30000><tr><td>t", "\u202eplain"):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(3):  # few images: a warning per class, naming it
            shutil.copyfile(photos["coffee"], folder / f"{i}.png")
    dialog = TeachDialog(models_dir=str(tmp_path / "taught"))
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.scanShown, timeout=MODEL_TIMEOUT_MS):
        dialog.set_folder(str(root))
    assert (
        "&lt;h1&gt;album" in dialog.classes_panel.folder_label.text()
    )  # our bold, its name as text
    assert dialog.classes_panel.warning_label.textFormat() == Qt.TextFormat.PlainText
    assert "<img width=3000 height=40>" in dialog.classes_panel.warning_label.text()
    names = [row[0] for row in dialog.classes_panel.class_rows()]
    assert "<img width=3000 height=40>" in names and "\\u202eplain" in names
    dialog.grab()
    assert dialog.sizeHint().width() < 1400 and dialog.minimumSizeHint().width() < 1400


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /dev/zero")
def test_a_labels_file_of_img_dev_zero_does_not_kill_the_window(tmp_path: Path, checkpoint: Path):
    """The report's case, end to end: `--labels` naming /dev/zero as every class's image; the
    self-test shows the sample's predictions in the window and exits 0 (it aborted)."""
    labels = tmp_path / "labels.txt"
    labels.write_text("<img src=/dev/zero>\n" * 1000)

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (12 << 30, 12 << 30))

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    args = ["--self-test", "--weights", str(checkpoint), "--labels", str(labels), "--device", "cpu"]
    done = subprocess.run(
        [sys.executable, "-m", "gui", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<img src=/dev/zero>" in done.stdout
