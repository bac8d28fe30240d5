"""The photo library in the window: unsure rows and their share, Write Keywords… with its
preview, Sort Into Folders… with its plan and Undo."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from dnd import RESULT_TIMEOUT_MS, drop, file_urls

from core.library.keywords import PARENT


@pytest.fixture
def album(tmp_path: Path, photos: dict[str, Path]) -> Path:
    folder = tmp_path / "album"
    folder.mkdir()
    for path in photos.values():
        shutil.copy(path, folder)
    return folder


@pytest.fixture
def classified(qtbot, window, album):
    with qtbot.waitSignal(window.runFinished, timeout=RESULT_TIMEOUT_MS):
        assert drop(window, file_urls([album]))
    return window


def top1(window) -> dict[str, float]:
    return {Path(i.name).name: i.result.top.probability for i in window.items()}


def test_unsure_rows_are_marked_filtered_and_counted(qtbot, classified):
    window = classified
    probs = top1(window)
    # a threshold between the photos' top-1s: some are unsure, some are not
    cut = sorted(probs.values())[1] + 1e-6
    window.library.threshold.set(cut)
    unsure = sorted(name for name, p in probs.items() if p < cut)
    assert len(unsure) == 2
    assert window.status_bar.share.text() == f"Unsure: 2 of 4 ({2 / 4:.0%})"
    control = window.library.unsure.control
    assert control.spin.value() == round(cut * 100)
    control.only.setChecked(True)
    rows = window.results.shown_rows()
    assert sorted(Path(window.items()[r].name).name for r in rows) == unsure
    control.only.setChecked(False)
    assert len(window.results.shown_rows()) == 4
    assert window.settings.unsure_threshold == pytest.approx(cut)


def test_write_keywords_previews_then_writes_sidecars(qtbot, classified, album):
    window = classified
    probs = top1(window)
    window.library.threshold.set(sorted(probs.values())[1] + 1e-6)  # two photos unsure
    dialog = window.library.write_keywords()
    qtbot.addWidget(dialog)
    assert dialog.preview.text().startswith("2 photos get ")
    assert "2 unsure and 0 failed are left alone" in dialog.preview.text()
    dialog.write_button.click()
    qtbot.waitUntil(lambda: dialog.report.isVisible(), timeout=20_000)
    assert dialog.report.toPlainText().startswith("Keywords written for 2 photos.")
    sure = [n for n, p in probs.items() if p >= window.library.threshold.value]
    for name in sure:
        out = subprocess.run(
            ["exiftool", "-j", "-XMP:HierarchicalSubject", str(album / f"{name}.xmp")],
            capture_output=True,
            text=True,
            check=True,
        )
        tree = json.loads(out.stdout)[0]["HierarchicalSubject"]
        tree = tree if isinstance(tree, list) else [tree]
        assert all(t.startswith(f"{PARENT}|") for t in tree) and tree
    assert len(list(album.glob("*.xmp"))) == 2


def test_sort_shows_the_plan_sorts_and_undoes(qtbot, classified, album, tmp_path):
    window = classified
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in album.iterdir()}
    window.library.threshold.set(0.0)
    dialog = window.library.sort_into_folders()
    qtbot.addWidget(dialog)
    out = tmp_path / "sorted"
    dialog.out.setText(str(out))
    dialog.move_radio.setChecked(True)  # re-plans
    assert dialog.summary.text().startswith("Plan: move 4 photos into 1 folders")
    assert dialog.view.toPlainText().count("→") == 4
    assert not out.exists()
    dialog.sort_button.click()
    qtbot.waitUntil(lambda: dialog.undo_button.isVisible(), timeout=20_000)
    assert dialog.summary.text().startswith("Done: 4 files moved.")
    assert list(album.iterdir()) == []
    dialog.undo_button.click()
    qtbot.waitUntil(lambda: dialog.summary.text().startswith("Undone"), timeout=20_000)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in album.iterdir()}
    assert after == before
