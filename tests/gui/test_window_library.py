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
    rows = window.table.panel.shown_rows()
    assert sorted(Path(window.items()[r].name).name for r in rows) == unsure
    control.only.setChecked(False)
    assert len(window.table.panel.shown_rows()) == 4
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


def test_review_walks_the_least_sure_first_with_one_key_per_answer(qtbot, classified, album):
    from PySide6.QtCore import Qt

    from core.library.corrections import CorrectionStore

    window = classified
    window.library.threshold.set(1.0)  # every photo unsure: the walk covers them all
    probs = top1(window)
    review = window.library.review_least_sure()
    qtbot.addWidget(review)
    least = min(probs, key=probs.get)
    assert review.title.text().startswith(f"1 of 4: {least}")
    assert Path(window.items()[window.current_index()].name).name == least  # shown in the window
    first = window.items()[window.current_index()]
    qtbot.keyClick(review, Qt.Key.Key_Return)  # the top-1 is right
    second = window.items()[window.current_index()]
    assert review.title.text().startswith("2 of 4: ")
    qtbot.keyClick(review, Qt.Key.Key_2)  # the second prediction is right
    store = CorrectionStore(album)
    assert store.get(first.name) == first.result.top.label
    assert store.get(second.name) == second.result.predictions[1].label
    labels = [window.table.panel.proxy.index(r, 1).data() for r in range(4)]
    assert f"{first.result.top.label} ✓" in labels
    assert f"{second.result.predictions[1].label} ✎" in labels

    # C: a class the model does not know, typed in
    third = window.current_index()
    dialog = window.library.ask_correction(third)
    qtbot.addWidget(dialog)
    dialog.combo.setCurrentText("astronaut")
    dialog.accept()
    assert CorrectionStore(album).get(window.items()[third].name) == "astronaut"
    assert review.title.text().startswith("4 of 4: ")
    qtbot.keyClick(review, Qt.Key.Key_Backspace)
    assert "(you said: astronaut)" in review.title.text()


def test_teach_from_corrections_changes_the_corrected_photos_answers(
    qtbot, make_window, photos, checkpoint, tmp_path
):
    from core.teach.training import TrainingOptions, save_checkpoint, train
    from tests.library.test_corrections import crops

    examples = tmp_path / "examples"
    for name in ("chelsea", "coffee", "rocket"):
        crops(photos[name], examples / name, 6, seed=1)
    taught = save_checkpoint(
        train(examples, TrainingOptions(device="cpu"), backbone=str(checkpoint)),
        tmp_path / "taught.pth",
    )
    album = tmp_path / "album"
    new = crops(photos["astronaut"], album, 4, seed=2)
    crops(photos["coffee"], album, 2, seed=3)
    window = make_window(weights=str(taught))
    with qtbot.waitSignal(window.modelReady, timeout=60_000):
        window.start()
    with qtbot.waitSignal(window.runFinished, timeout=RESULT_TIMEOUT_MS):
        assert drop(window, file_urls([album]))
    names = [Path(i.name).name for i in window.items()]
    before = {n: i.result.top.label for n, i in zip(names, window.items(), strict=True)}
    assert before[new[0].name] != "astronaut"
    for path in new:
        assert window.library.corrections.correct(names.index(path.name), "astronaut")
    with qtbot.waitSignal(window.library.corrections.taught, timeout=300_000) as note:
        window.library.corrections.teach(str(tmp_path / "models"))
    after = {Path(i.name).name: i.result.top.label for i in window.items()}
    assert after[new[0].name] == "astronaut"
    changed = sum(before[n] != after[n] for n in names)
    assert note.args[0].startswith(f"{changed} of 6 predictions changed. Taught 4 classes")
    assert "held-out accuracy" in note.args[0]
    assert window.status() == note.args[0]


def test_find_similar_lists_a_copys_original_first(qtbot, window, tmp_path, photos):
    from PIL import Image
    from PySide6.QtCore import Qt

    folder = tmp_path / "copies"
    folder.mkdir()
    for path in photos.values():
        shutil.copy(path, folder)
    img = Image.open(photos["coffee"]).convert("RGB")
    img.resize((img.width // 2, img.height // 2)).save(folder / "coffee_small.jpg", quality=80)
    with qtbot.waitSignal(window.runFinished, timeout=RESULT_TIMEOUT_MS):
        assert drop(window, file_urls([folder]))
    names = [Path(i.name).name for i in window.items()]
    dialog = window.library.find_similar(names.index("coffee_small.jpg"))
    qtbot.addWidget(dialog)
    listed = [Path(n).name for n in dialog.names()]
    assert listed[0] == "coffee.png" and len(listed) == 4
    first = dialog.list.item(0)
    rect = dialog.list.visualItemRect(first)
    qtbot.mouseClick(dialog.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert Path(window.items()[window.current_index()].name).name == "coffee.png"
