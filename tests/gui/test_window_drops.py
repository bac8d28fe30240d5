"""What a person does with the window: drop photos, folders, image data; paste; drop junk."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from dnd import RESULT_TIMEOUT_MS, drag_over, drop, file_urls
from PySide6.QtCore import QMimeData, Qt, QTimer, QUrl
from PySide6.QtGui import QDragLeaveEvent, QImage, QKeySequence
from PySide6.QtWidgets import QApplication

from core.results import ClassificationResult
from gui.widgets import BAR_SCALE, percent_text


def expect_bars(window, result: ClassificationResult) -> None:
    """The five rows read exactly what the result says: label, percentage, bar length."""
    assert result.ok, result.error
    expected = [
        (p.label, percent_text(p.probability), round(p.probability * BAR_SCALE))
        for p in result.predictions
    ]
    assert window.panel.bars.texts() == expected


def test_dropping_a_photo_shows_it_with_five_bars_device_and_time(qtbot, window, photos):
    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS) as got:
        assert drop(window, file_urls([photos["chelsea"]]))
    index, result = got.args
    assert index == 0
    assert result.path == str(photos["chelsea"])
    assert len(result.predictions) == 5
    probabilities = [p.probability for p in result.predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    expect_bars(window, result)
    bars = [value for _, _, value in window.panel.bars.texts()]
    assert bars == sorted(bars, reverse=True) and bars[0] > 0
    assert window.panel.title.text() == "chelsea.jpg"
    meta = window.panel.meta.text().replace("\u00a0", " ")  # a value never splits from its unit
    assert meta.startswith(window.status_bar.device.text())  # "CPU (...) · 84 ms · ..."
    assert "\u00a0ms" in window.panel.meta.text() or "\u00a0s" in window.panel.meta.text()
    assert window.table.panel is None or not window.table.panel.isVisible()  # one image: no table

    # The photo is shown whole, scaled to fit, with its own aspect (451 x 300).
    qtbot.waitUntil(lambda: window.view.image() is not None, timeout=RESULT_TIMEOUT_MS)
    shown = window.view.image_rect()
    assert window.view.rect().contains(shown)
    assert abs(shown.width() / shown.height() - 451 / 300) < 0.02


def test_several_files_and_a_folder_fill_the_table_each_with_its_top1(
    qtbot, window, photos, tmp_path
):
    folder = tmp_path / "holiday"
    folder.mkdir()
    for name in ("astronaut", "rocket"):
        shutil.copy(photos[name], folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (folder / "notes.txt").write_text("not an image, and not listed from a folder")
    notes = tmp_path / "notes.txt"
    notes.write_text("dropped on purpose: refused as an image")

    finished: list[ClassificationResult] = []
    window.itemClassified.connect(lambda i, r: finished.append(r))
    with qtbot.waitSignal(window.runFinished, timeout=RESULT_TIMEOUT_MS):
        assert drop(window, file_urls([folder, photos["coffee"], notes]))

    names = [Path(item.name).name for item in window.items()]
    assert names == ["astronaut.jpg", "broken.jpg", "rocket.jpg", "coffee.png", "notes.txt"]
    table = window.table.panel
    assert table.isVisible() and table.proxy.rowCount() == 5
    results = [item.result for item in window.items()]
    assert all(r is not None for r in results)
    for i, result in enumerate(results):
        if result.ok:
            assert cells(window, i) == [
                Path(result.path).name,
                result.top.label,
                percent_text(result.top.probability),
                "",
            ]
        else:
            assert cells(window, i)[1:3] == ["", ""]
            # The row names the file already: its error cell does not repeat it.
            assert cells(window, i)[3] == result.error.removeprefix(Path(result.path).name + ": ")
    assert [r.ok for r in results] == [True, False, True, True, False]
    assert "broken.jpg" in results[1].error
    assert "notes.txt: not an image" in results[4].error

    # Clicking a row shows that image's full result; a bad one shows its error.
    rect = table.table.visualRect(table.proxy.index(3, 1))
    qtbot.mouseClick(table.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_index() == 3
    assert window.panel.title.text() == "coffee.png"
    expect_bars(window, results[3])
    assert window.panel.meta.text().startswith("4\u00a0of\u00a05")
    table.table.setCurrentIndex(table.proxy.index(1, 0))
    assert window.panel.error.isVisible() and "broken.jpg" in window.panel.error.text()
    assert window.panel.bars.texts() == []
    qtbot.waitUntil(lambda: "broken.jpg" in window.view.placeholder(), timeout=RESULT_TIMEOUT_MS)


def cells(window, row: int) -> list[str]:
    """What the table shows for item `row`: file name, top-1, confidence, error."""
    model = window.table.panel.model
    return [model.index(row, column).data() for column in range(model.columnCount())]


def test_the_event_loop_keeps_answering_while_predictions_run(qtbot, window, photos):
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    start = time.perf_counter()
    paths = [photos[name] for name in ("astronaut", "rocket", "chelsea", "coffee")]
    with qtbot.waitSignal(window.runFinished, timeout=RESULT_TIMEOUT_MS):
        drop(window, file_urls(paths))
    elapsed = time.perf_counter() - start
    timer.stop()
    gaps = [b - a for a, b in zip([start, *ticks], ticks, strict=False)]
    assert len(ticks) >= 0.3 * elapsed / 0.010, (len(ticks), elapsed)
    assert max(gaps) < 0.5, f"the UI thread stalled for {max(gaps):.3f} s during {elapsed:.2f} s"


def test_image_data_dropped_or_pasted_is_classified(qtbot, window, photos):
    # A picture dragged out of a browser: its web address, and the image data itself.
    image = QImage(str(photos["rocket"]))
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/rocket.jpg")])
    mime.setImageData(image)
    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS) as got:
        assert drop(window, mime)
    assert got.args[1].path == "pasted image" and got.args[1].ok
    expect_bars(window, got.args[1])

    # Encoded bytes as another app puts them on the clipboard, pasted with Ctrl+V.
    clip = QMimeData()
    clip.setData("image/png", Path(photos["coffee"]).read_bytes())
    QApplication.clipboard().setMimeData(clip)
    assert window.menus.paste_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Paste)
    window.activateWindow()
    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS) as got:
        window.menus.paste_action.trigger()
    assert got.args[1].ok
    qtbot.waitUntil(lambda: window.view.image() is not None, timeout=RESULT_TIMEOUT_MS)
    assert window.view.image().size() == QImage(str(photos["coffee"])).size()
    # Qt would free this QMimeData only at process exit, after Python is gone: a crash.
    QApplication.clipboard().clear()


def test_what_it_cannot_take_is_refused_with_a_message(qtbot, make_window, tmp_path):
    window = make_window()  # no model needed: refusing happens on the UI side

    text = QMimeData()
    text.setText("a cat, probably")
    drag_over(window, text)
    assert window.view.drag_state() == "refuse"
    assert not drop(window, text)
    assert window.view.drag_state() is None
    assert window.notice.isVisible()
    assert "Text can't be classified" in window.notice.text()

    link = QMimeData()
    link.setUrls([QUrl("https://example.com/cat.jpg")])
    assert not drop(window, link)
    assert "cat.jpg: links to the web can't be opened here" in window.notice.text()

    photo = file_urls([tmp_path / "missing.jpg"])
    drag_over(window, photo)
    assert window.view.drag_state() == "accept"
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert window.view.drag_state() is None

    empty = tmp_path / "empty-folder"
    empty.mkdir()
    window.start()  # the loader lists folders
    drop(window, file_urls([empty]))
    qtbot.waitUntil(lambda: "holds no images" in window.notice.text(), timeout=RESULT_TIMEOUT_MS)
    assert window.items() == []
