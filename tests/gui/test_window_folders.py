"""Folders in the window: the results table, its progress and Cancel, export, and the heat map."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dnd import RESULT_TIMEOUT_MS, drop, file_urls
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from core.results import CSV_HEADER
from gui.results_model import CONFIDENCE, FILE
from gui.widgets import percent_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def album(tmp_path: Path, photos: dict[str, Path]) -> Path:
    """Four skimage photos and a file that only looks like a JPEG."""
    folder = tmp_path / "album"
    folder.mkdir()
    for path in photos.values():
        shutil.copy(path, folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut off after the header")
    return folder


def cli(checkpoint: Path, fmt: str, folder: Path) -> str:
    """What `resnet-classify` prints for `folder`, one image per batch as the window runs."""
    args = ["--weights", str(checkpoint), "--format", fmt, "--batch-size", "1", str(folder)]
    done = subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr  # the broken file
    return done.stdout


def shown(window, column: int) -> list[str]:
    proxy = window.table.panel.proxy
    return [proxy.index(row, column).data() for row in range(proxy.rowCount())]


def test_a_folder_fills_a_sortable_filterable_table_that_exports_as_the_cli(
    qtbot, window, album, checkpoint, tmp_path
):
    with qtbot.waitSignal(window.runFinished, timeout=RESULT_TIMEOUT_MS):
        assert drop(window, file_urls([album]))
    table = window.table.panel
    assert table.isVisible()
    assert table.proxy.rowCount() == 5
    assert table.count.text() == "5 images"
    names = ["astronaut.jpg", "broken.jpg", "chelsea.jpg", "coffee.png", "rocket.jpg"]
    assert shown(window, FILE) == names
    broken = window.items()[1].result
    assert not broken.ok and "broken.jpg" in broken.error
    assert shown(window, 3)[1] == broken.error.removeprefix("broken.jpg: ")  # no name again
    assert shown(window, 1)[1] == shown(window, 2)[1] == ""

    # Confidence sorts as a number, highest first; the failed file goes last.
    table.table.sortByColumn(CONFIDENCE, Qt.SortOrder.DescendingOrder)
    order = [window.items()[row].result for row in table.shown_rows()]
    probabilities = [r.top.probability for r in order[:4]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert shown(window, CONFIDENCE) == [percent_text(p) for p in probabilities] + [""]
    assert not order[4].ok
    table.table.sortByColumn(FILE, Qt.SortOrder.DescendingOrder)
    assert shown(window, FILE) == names[::-1]

    # Filtering by label text, in any case.
    label = order[0].top.label
    qtbot.keyClicks(table.search, label.upper())
    expected = [i.name for i in window.items() if i.result.ok and label in i.result.top.label]
    assert sorted(window.items()[r].name for r in table.shown_rows()) == sorted(expected)
    assert table.count.text() == f"{len(expected)} of 5 images shown"
    table.search.clear()
    assert table.proxy.rowCount() == 5

    # Selecting a row shows that image with its full top-5.
    row = table.proxy.mapFromSource(table.model.index(3, 0)).row()
    rect = table.table.visualRect(table.proxy.index(row, 1))
    qtbot.mouseClick(table.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_index() == 3 and window.panel.title.text() == "coffee.png"
    coffee = window.items()[3].result
    assert [t[0] for t in window.panel.bars.texts()] == [p.label for p in coffee.predictions]

    # Ctrl+C copies the selected rows as text.
    table.table.selectAll()
    table.table.setFocus()
    assert table.copy_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Copy)
    table.copy_action.trigger()
    lines = QApplication.clipboard().text().splitlines()
    assert len(lines) == 5
    assert lines[0].split("\t") == [
        window.items()[4].name,  # rocket: the table is sorted by name, Z to A
        window.items()[4].result.top.label,
        percent_text(window.items()[4].result.top.probability),
        "",
    ]

    # File > Export (Ctrl+E) writes the CLI's records: CSV and JSON lines, every top-k entry.
    assert window.menus.export_action.shortcut() == QKeySequence("Ctrl+E")
    assert window.menus.export_action.isEnabled()
    table.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the order the files came in
    assert window.export_results(str(tmp_path / "out.csv")) == 5
    assert window.export_results(str(tmp_path / "out.jsonl")) == 5
    exported_csv = (tmp_path / "out.csv").read_text(encoding="utf-8")
    exported_json = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(exported_csv)))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) == 1 + 4 * 5 + 1
    assert exported_csv == cli(checkpoint, "csv", album)
    assert exported_json == cli(checkpoint, "json", album)
    assert json.loads(exported_json.splitlines()[1]) == broken.to_dict()


def test_cancel_half_way_keeps_what_was_made_and_resume_does_the_rest(qtbot, window, album, photos):
    for path in photos.values():  # eight photos and the broken file
        shutil.copy(path, album / f"copy-{path.name}")
    seen: list[tuple[str, str]] = []

    def classified(index, result):
        panel = window.table.panel
        seen.append((panel.progress_text(), panel.eta.text()))
        if len(seen) == 3:
            qtbot.mouseClick(panel.cancel, Qt.MouseButton.LeftButton)

    window.itemClassified.connect(classified)
    with qtbot.waitSignal(window.runCancelled, timeout=RESULT_TIMEOUT_MS) as cancelled:
        drop(window, file_urls([album]))
    panel = window.table.panel
    kept = [item for item in window.items() if item.result is not None]
    assert [text for text, _ in seen[:3]] == ["1 / 9", "2 / 9", "3 / 9"]
    assert seen[1][1].endswith("left") and seen[2][1].endswith("left")  # "about 5 s left"
    assert 3 <= len(kept) < 9  # it stops between images: what was under way still lands
    assert cancelled.args[0] == 9 - len(kept)
    assert len(seen) == len(kept)
    assert not panel.progress.isVisible() and not panel.cancel.isVisible()
    assert panel.resume.isVisible()
    assert window.status().startswith(f"Stopped: {len(kept)} of 9 classified")
    waiting = [i for i, item in enumerate(window.items()) if item.result is None]
    assert panel.model.index(waiting[0], 1).data() == "not classified"
    assert [r.path for r in window.export_rows()] == [item.name for item in kept]

    window.itemClassified.disconnect(classified)
    with qtbot.waitSignal(window.runFinished, timeout=RESULT_TIMEOUT_MS):
        qtbot.mouseClick(panel.resume, Qt.MouseButton.LeftButton)
    assert all(item.result is not None for item in window.items())
    assert [item.result for item in kept] == [
        item.result for item in window.items() if item in kept
    ]
    assert not panel.resume.isVisible()


def test_heat_map_shows_over_the_photo_for_the_prediction_clicked(
    qtbot, window, photos, monkeypatch
):
    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS) as got:
        drop(window, file_urls([photos["chelsea"]]))
    result = got.args[1]
    qtbot.waitUntil(lambda: window.view.image() is not None, timeout=RESULT_TIMEOUT_MS)
    plain = window.view.image()
    assert window.menus.heat_action.shortcut() == QKeySequence("Ctrl+Shift+H")
    assert window.panel.heat_button.defaultAction() is window.menus.heat_action

    with qtbot.waitSignal(window.heatMapShown, timeout=RESULT_TIMEOUT_MS) as heat:
        window.panel.heat_button.click()
    assert heat.args[0].class_index == result.top.index
    assert window.view.overlay_shown()
    overlay = window.view.shown_image()
    assert overlay.size() == plain.size()
    assert overlay != plain.convertToFormat(overlay.format())
    assert window.panel.bars.selected() == 0
    assert result.top.label in window.panel.heat_label.text()

    # Clicking another prediction asks the worker for that class; an answer overtaken by a
    # newer click is never shown.
    shown = []
    window.heatMapShown.connect(lambda h: shown.append(h.class_index))
    qtbot.mouseClick(window.panel.bars.rows[3], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.panel.bars.rows[2], Qt.MouseButton.LeftButton)
    wanted = result.predictions[2]
    qtbot.waitUntil(lambda: wanted.index in shown, timeout=RESULT_TIMEOUT_MS)
    assert shown == [wanted.index]
    assert window.panel.bars.selected() == 2
    assert wanted.label in window.panel.heat_label.text()
    assert window.view.shown_image() != overlay

    # Off again: the plain photo.
    window.menus.heat_action.toggle()
    assert not window.view.overlay_shown() and window.view.shown_image() is plain
    assert window.panel.bars.selected() is None

    # A heat map that cannot be made says why; the window goes on.
    from core.errors import OutOfDeviceMemoryError

    def no_memory(*args, **kwargs):
        raise OutOfDeviceMemoryError("The GPU ran out of memory making the heat map.")

    monkeypatch.setattr("core.grad_cam.explain", no_memory)
    with qtbot.waitSignal(window.heatMapProblem, timeout=RESULT_TIMEOUT_MS):
        qtbot.mouseClick(window.panel.bars.rows[4], Qt.MouseButton.LeftButton)  # turns it on
    assert window.menus.heat_action.isChecked()
    assert "ran out of memory" in window.panel.heat_label.text()
    assert not window.view.overlay_shown()
