"""Model > Teach New Classes…: a folder of class folders in, a model the window uses out."""

from __future__ import annotations

from pathlib import Path

import pytest
from dnd import MODEL_TIMEOUT_MS, file_urls
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from test_training import make_class_folders

from gui.teach_dialog import TeachDialog

TRAIN_TIMEOUT_MS = 600_000  # backbone, features of a few dozen images, epochs: 2 busy cores


@pytest.fixture(scope="module")
def album(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """Two easy classes, and two (cat, kitten) that hold the very same crops: their held-out
    images are bound to be mistaken for each other."""
    root = tmp_path_factory.mktemp("album")
    make_class_folders(root, photos, per_class=5, classes=("coffee", "rocket"))
    make_class_folders(root / "kitten", photos, per_class=5, classes=("chelsea",), seed=1)
    make_class_folders(root / "cat", photos, per_class=5, classes=("chelsea",), seed=1)
    for name in ("kitten", "cat"):
        (root / name / "chelsea").rename(root / name / "photos")
    return root


@pytest.fixture
def dialog(qtbot, checkpoint: Path, tmp_path: Path) -> TeachDialog:
    dialog = TeachDialog(backbone=str(checkpoint), models_dir=str(tmp_path / "taught"))
    qtbot.addWidget(dialog)  # closed at teardown: training cancelled, thread ended
    dialog.show()
    return dialog


def drop_folder(dialog: TeachDialog, folder: Path) -> bool:
    """Drag `folder` over the dialog and drop it, as a file manager would; True if accepted."""
    mime = file_urls([folder])
    rest = (mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    centre = dialog.rect().center()
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, *rest)
    QApplication.sendEvent(dialog, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, *rest)
    QApplication.sendEvent(dialog, drop)
    return drop.isAccepted()


def test_dropping_a_folder_lists_its_classes_with_counts_thumbnails_and_warnings(
    qtbot, dialog: TeachDialog, album: Path
):
    with qtbot.waitSignal(dialog.scanShown, timeout=MODEL_TIMEOUT_MS):
        assert drop_folder(dialog, album)
    assert dialog.classes_panel.class_rows() == [
        ("cat", 5, True),
        ("coffee", 5, True),
        ("kitten", 5, True),
        ("rocket", 5, True),
    ]
    assert "4 classes, 20 images" in dialog.classes_panel.folder_label.text()
    assert "'cat' has only 5 images" in dialog.classes_panel.warning_label.text()
    assert dialog.classes_panel.warning_label.isVisible()
    assert dialog.train_button.isEnabled()
    # before training there is no result: the classes have its room, no empty area is left
    assert not dialog.result_panel.isVisible()
    table = dialog.classes_panel.classes_table
    qtbot.waitUntil(lambda: table.height() > dialog.height() // 2)


def test_a_file_or_a_folder_without_classes_is_refused_with_a_reason(
    qtbot, dialog: TeachDialog, album: Path
):
    assert not drop_folder(dialog, album / "coffee" / "000.jpg")  # not a folder: not accepted
    with qtbot.waitSignal(dialog.scanShown, timeout=MODEL_TIMEOUT_MS):
        dialog.set_folder(str(album / "coffee"))
    assert "at least two are needed" in dialog.classes_panel.folder_label.text()
    assert dialog.classes_panel.class_rows() == []
    assert not dialog.train_button.isEnabled()


def test_train_shows_the_curve_accuracy_confusion_and_mistakes_then_saves(
    qtbot, dialog: TeachDialog, album: Path, tmp_path: Path
):
    with qtbot.waitSignal(dialog.scanShown, timeout=MODEL_TIMEOUT_MS):
        dialog.set_folder(str(album))
    dialog.epochs_spin.setValue(8)
    with qtbot.waitSignal(dialog.trainingFinished, timeout=TRAIN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
        assert dialog.cancel_button.isEnabled() and not dialog.train_button.isEnabled()
    assert finished.args == ["done"], dialog.status_label.text()

    result = dialog.model.taught.result
    assert dialog.result_panel.accuracy_label.text().startswith(
        f"Validation accuracy: {result.val_accuracy * 100:.1f}%"
    )
    assert "of 4 held-out images" in dialog.result_panel.accuracy_label.text()
    assert len(dialog.result_panel.curve.epochs) == len(result.history) >= 1
    matrix = dialog.result_panel.confusion()
    assert matrix == [list(row) for row in result.confusion]
    assert sum(map(sum, matrix)) == 4
    header = dialog.result_panel.confusion_table.model().headerData(0, Qt.Orientation.Horizontal)
    assert header == "cat"

    # cat and kitten are the same pictures: the mistakes are listed, and one can be looked at
    assert dialog.result_panel.wrong_list.count() == len(result.misclassified) >= 1
    rect = dialog.result_panel.wrong_list.visualItemRect(dialog.result_panel.wrong_list.item(0))
    qtbot.mouseClick(
        dialog.result_panel.wrong_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
    )
    assert (
        dialog.result_panel.wrong_view.pixmap() is not None
        and not dialog.result_panel.wrong_view.pixmap().isNull()
    )
    wrong = result.misclassified[0]
    assert f"{wrong.true_label}, predicted {wrong.predicted_label}" in dialog.model.wrong_caption

    assert Path(dialog.model.taught.path).is_file()
    target = tmp_path / "mine.pth"
    with qtbot.waitSignal(dialog.worker.saved, timeout=MODEL_TIMEOUT_MS):
        dialog.save_to(str(target))
    assert target.read_bytes() == Path(dialog.model.taught.path).read_bytes()


def test_cancel_stops_training_and_train_can_start_again(qtbot, dialog: TeachDialog, album: Path):
    with qtbot.waitSignal(dialog.scanShown, timeout=MODEL_TIMEOUT_MS):
        dialog.set_folder(str(album))
    with qtbot.waitSignal(dialog.worker.progressed, timeout=MODEL_TIMEOUT_MS):
        dialog.start_training()
    with qtbot.waitSignal(dialog.trainingFinished, timeout=TRAIN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args == ["cancelled"]
    assert dialog.status_label.text() == "Training cancelled."
    assert dialog.train_button.isEnabled() and not dialog.use_button.isEnabled()


def test_use_this_model_switches_the_window_to_the_taught_classes(
    qtbot, window, album: Path, checkpoint: Path, tmp_path: Path
):
    action = next(
        a
        for menu in window.menuBar().actions()
        if menu.text() == "&Model"
        for a in menu.menu().actions()
        if a.text() == "&Teach New Classes…"
    )
    action.trigger()
    dialog = window.models.teach_dialog
    qtbot.addWidget(dialog)
    dialog.model.models_dir = str(tmp_path)
    dialog.model.choose_backbone(str(checkpoint))
    with qtbot.waitSignal(dialog.scanShown, timeout=MODEL_TIMEOUT_MS):
        dialog.set_folder(str(album))
    dialog.epochs_spin.setValue(2)
    with qtbot.waitSignal(dialog.trainingFinished, timeout=TRAIN_TIMEOUT_MS) as finished:
        dialog.start_training()
    assert finished.args == ["done"], dialog.status_label.text()

    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS) as ready:
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert ready.args[0].labels == ("cat", "coffee", "kitten", "rocket")
    assert window.settings.weights == dialog.model.taught.path
