"""The Teach dialog with 500 classes stays on screen, and its Save… never costs a good model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dnd import MODEL_TIMEOUT_MS
from fake_training import fake_result
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget

from gui.teach_dialog import TeachDialog
from gui.teach_worker import Taught

SCREEN_WIDTH, SCREEN_HEIGHT = 1366, 768  # the smallest screen we test on (a laptop's)


@pytest.fixture
def dialog(qtbot, tmp_path: Path) -> TeachDialog:
    dialog = TeachDialog(models_dir=str(tmp_path / "taught"))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_500_classes_keep_the_dialog_within_the_screen(qtbot, dialog: TeachDialog, tmp_path):
    root = tmp_path / "many"
    tiny = Image.new("RGB", (8, 8), "red")
    for i in range(500):
        (root / f"class{i:03d}").mkdir(parents=True)
        tiny.save(root / f"class{i:03d}" / "a.png")
    with qtbot.waitSignal(dialog.scanShown, timeout=MODEL_TIMEOUT_MS):
        dialog.set_folder(str(root))
    assert dialog.classes_panel.warning_label.text()
    assert dialog.classes_panel.warnings.isVisible()
    assert dialog.sizeHint().height() < SCREEN_HEIGHT
    assert dialog.minimumSizeHint().height() < SCREEN_HEIGHT

    names = [f"class{i:03d}" for i in range(500)]
    dialog.show_result(Taught(fake_result(names), str(tmp_path / "m.pth"), ()))
    dialog.grab()
    assert dialog.minimumSizeHint().height() < SCREEN_HEIGHT  # Train, Use, Save reachable
    assert dialog.result_panel.confusion_table.sizeHint().width() < SCREEN_WIDTH // 2
    table = dialog.result_panel.confusion_table
    assert not isinstance(table, QTableWidget)  # cells are made as painted, not 250,000 items
    model = table.model()
    assert (model.rowCount(), model.columnCount()) == (500, 500)
    assert model.headerData(499, Qt.Orientation.Vertical) == "class499"
    assert model.data(model.index(0, 1)) == "1" and model.data(model.index(3, 3)) == "2"
    assert dialog.result_panel.confusion()[0][:3] == [2, 1, 0]


@pytest.fixture
def full_disk(tmp_path: Path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_save_on_a_full_disk_keeps_the_model_that_was_there(
    qtbot, dialog: TeachDialog, tmp_path: Path, full_disk: Path
):
    taught = tmp_path / "taught.pth"
    taught.write_bytes(b"\1" * (400 << 10))  # bigger than the disk
    dialog.show_result(Taught(fake_result(["cat", "dog"]), str(taught), ()))
    good = full_disk / "mine.pth"
    good.write_bytes(b"the good model")
    with qtbot.waitSignal(dialog.worker.saveFailed, timeout=MODEL_TIMEOUT_MS) as failed:
        dialog.save_to(str(good))
    assert "No space left on device" in failed.args[0]
    assert "previous file is unchanged" in failed.args[0]
    assert good.read_bytes() == b"the good model"
    assert [p.name for p in full_disk.iterdir()] == ["mine.pth"]
