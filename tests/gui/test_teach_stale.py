"""Issue 22: the Teach dialog starts from the window's model, keeps nothing of a previous folder,
names what it cannot read, and keeps its models under one folder, named after their classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from dnd import MODEL_TIMEOUT_MS
from PySide6.QtWidgets import QFileDialog
from test_training import make_class_folders

from gui import teach_naming
from gui.teach_dialog import TeachDialog

TRAIN_TIMEOUT_MS = 600_000


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    root = make_class_folders(
        tmp_path_factory.mktemp("two"), photos, per_class=4, classes=("coffee", "rocket")
    )
    (root / "coffee" / "notes.jpg").write_bytes(b"a text file with a photo's name")
    return root


@pytest.fixture
def dialog(qtbot, checkpoint: Path, tmp_path: Path) -> TeachDialog:
    dialog = TeachDialog(backbone=str(checkpoint), models_dir=str(tmp_path / "taught"))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def scanned(qtbot, dialog: TeachDialog, folder: Path) -> None:
    with qtbot.waitSignal(dialog.scanShown, timeout=MODEL_TIMEOUT_MS):
        dialog.set_folder(str(folder))


def test_start_from_is_the_model_the_window_uses(qtbot, window, checkpoint):
    window.models.open_teach_dialog()
    dialog = window.models.teach_dialog
    qtbot.addWidget(dialog)
    assert dialog.backbone_edit.text() == str(checkpoint)  # not "ImageNet weights"


def test_unreadable_files_are_named_and_not_counted(qtbot, dialog, two_classes):
    scanned(qtbot, dialog, two_classes)
    assert dialog.classes_panel.class_rows() == [("coffee", 4, True), ("rocket", 4, True)]
    assert "2 classes, 8 images" in dialog.classes_panel.folder_label.text()
    assert "Left out, cannot be read: coffee/notes.jpg" in dialog.classes_panel.warning_label.text()
    assert dialog.name_edit.text() == "coffee-rocket"


def test_a_new_folder_clears_the_last_result_and_models_are_named_after_classes(
    qtbot, dialog, two_classes, tmp_path, photos
):
    scanned(qtbot, dialog, two_classes)
    dialog.epochs_spin.setValue(2)
    with qtbot.waitSignal(dialog.trainingFinished, timeout=TRAIN_TIMEOUT_MS) as done:
        dialog.start_training()
    assert done.args == ["done"]
    assert Path(dialog.model.taught.path) == tmp_path / "taught" / "coffee-rocket.pth"
    status = dialog.status_label.text()
    assert "on CPU" in status and "(s)" not in status and "coffee-rocket.pth" in status
    assert dialog.use_button.isEnabled() and dialog.progress.text() == "Done"

    other = make_class_folders(
        tmp_path / "other", photos, per_class=3, classes=("chelsea", "rocket")
    )
    scanned(qtbot, dialog, other)
    assert dialog.model.taught is None
    assert not dialog.use_button.isEnabled() and not dialog.save_button.isEnabled()
    assert (
        not dialog.result_panel.accuracy_label.isVisible()
        and dialog.result_panel.confusion_table.model().rowCount() == 0
    )
    assert dialog.progress.text() == "" and dialog.status_label.text() == ""
    assert dialog.name_edit.text() == "chelsea-rocket"


def test_an_error_wraps_and_goes_when_its_cause_is_fixed(
    qtbot, dialog, two_classes, tmp_path, checkpoint, monkeypatch
):
    scanned(qtbot, dialog, two_classes)
    width = dialog.width()
    home = tmp_path.joinpath(*["a-long-folder-name-as-some-people-have"] * 4)
    monkeypatch.setenv("TORCH_HOME", str(home))  # offline: the message names this folder
    monkeypatch.setenv("RESNET_CLASSIFIER_WEIGHTS_DIR", str(tmp_path / "bundled"))
    monkeypatch.setenv("RESNET_CLASSIFIER_WEIGHTS_URL", "http://127.0.0.1:9")
    dialog.model.choose_backbone("")  # ImageNet
    with qtbot.waitSignal(dialog.trainingFinished, timeout=TRAIN_TIMEOUT_MS) as done:
        dialog.start_training()
    assert done.args == ["failed"] and str(home) in dialog.status_label.text()
    qtbot.wait(50)  # a relayout, if the error were to widen the dialog
    assert dialog.width() <= width
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(checkpoint), ""))
    )
    dialog.choose_backbone()
    assert dialog.status_label.text() == ""


def test_taught_models_live_in_one_folder_named_for_the_app():
    folder = teach_naming.models_dir()
    assert folder.name == "taught" and folder.parent.name == "resnet-classifier"
    assert folder.parent.parent.name != "resnet-classifier"


def test_names_stay_short_and_never_overwrite(tmp_path):
    names = [f"class{i:03d}" for i in range(500)]
    name = teach_naming.model_name(names)
    assert name.endswith("-more") and len(name) <= 80
    assert teach_naming.model_name(["a/b", "c"]) == "a_b-c"
    (tmp_path / "x.pth").write_bytes(b"")
    assert teach_naming.free_path(tmp_path, "x").name == "x 2.pth"
