"""The Teach dialog's model on its own, no dialog and no worker: it is handed the answers the
worker would send, and must show only those to what is current, as a person expects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_training import fake_result
from PySide6.QtGui import QImage

from core import EpochStats, Progress
from gui.teach_messages import FoundClass, Scan, Taught
from gui.teach_model import Actions, FolderLine, ProgressState, Status, TeachModel

ROOT = Path(__file__).resolve().parents[2]
IDLE = Actions(choose_folder=True, train=False, cancel=False, use=False, save=False)
READY = Actions(choose_folder=True, train=True, cancel=False, use=False, save=False)
RUNNING = Actions(choose_folder=False, train=False, cancel=True, use=False, save=False)
TAUGHT = Actions(choose_folder=True, train=True, cancel=False, use=True, save=True)


class Recorder:
    """Every emission of the signals asked for, as (name, args) in order."""

    def __init__(self, model: TeachModel, *names: str) -> None:
        self.calls: list[tuple[str, tuple]] = []
        for name in names:
            getattr(model, name).connect(lambda *a, n=name: self.calls.append((n, a)))

    def of(self, name: str) -> list[tuple]:
        return [args for n, args in self.calls if n == name]

    def last(self, name: str) -> object:
        return self.of(name)[-1][0]


def scan(folder: str, *names: str, unreadable: tuple[str, ...] = ()) -> Scan:
    classes = tuple(FoundClass(name, 10, QImage()) for name in names)
    return Scan(folder, classes, (), unreadable)


def scanned(model: TeachModel, folder: str = "/photos/pets", *names: str) -> None:
    """Choose `folder` and answer as the worker would."""
    model.set_folder(folder)
    model.on_scanned(model.request_id, scan(folder, *(names or ("cat", "dog"))))


def taught(names: tuple[str, ...] = ("cat", "dog"), path: str = "/m/cat-dog.pth") -> Taught:
    result = fake_result(list(names), state_dict={})
    return Taught(result, path, tuple((m, QImage()) for m in result.misclassified))


def epoch(n: int, val: float) -> Progress:
    return Progress("training", n, 8, EpochStats(n, 1.0, 0.5, 1.0, val))


@pytest.fixture
def model(qapp) -> TeachModel:
    return TeachModel("/m", backbone="/models/start.pth")


def test_a_folder_answered_after_a_newer_folder_is_ignored(model):
    rec = Recorder(model, "scanRequested", "folderChanged", "classesChanged", "nameChanged")
    model.set_folder("/photos/old")
    model.set_folder("/photos/pets")
    (old, _), (new, folder) = rec.of("scanRequested")
    assert folder == "/photos/pets" and new > old
    assert rec.last("folderChanged") == FolderLine("pets", "looking for classes…")
    assert model.actions == IDLE

    model.on_scanned(old, scan("/photos/old", "car", "bus"))
    assert rec.of("classesChanged") == [] and model.scan is None

    model.on_scanned(new, scan("/photos/pets", "cat", "dog"))
    assert rec.last("folderChanged") == FolderLine("pets", "2 classes, 20 images")
    assert [c.name for c in rec.last("classesChanged").classes] == ["cat", "dog"]
    assert rec.last("nameChanged") == "cat-dog" == model.name
    assert model.actions == READY


def test_a_folder_without_classes_says_why_and_cannot_be_trained(model):
    rec = Recorder(model, "folderChanged", "classesChanged", "scanAnswered")
    model.set_folder("/photos/cat")
    model.on_scan_failed(model.request_id, "'cat' holds no class folders: at least two are needed.")
    assert rec.last("folderChanged") == FolderLine(
        "", "'cat' holds no class folders: at least two are needed."
    )
    assert rec.of("classesChanged") == [(None,)] and len(rec.of("scanAnswered")) == 1
    assert model.actions == IDLE
    assert model.start_training() is None
    model.on_scan_failed(model.request_id - 5, "stale")
    assert rec.last("folderChanged").text.startswith("'cat' holds")


def test_training_sends_the_options_and_shows_its_progress_then_its_result(model):
    scanned(model)
    rec = Recorder(
        model, "trainRequested", "runningChanged", "epochAdded", "resultChanged", "trainingFinished"
    )
    model.set_epochs(8)
    model.set_fine_tune(True)
    model.set_augment(True)
    model.edit_name("  pets  ")
    request = model.start_training()
    assert rec.of("trainRequested") == [(request,)]
    assert (request.folder, request.backbone, request.epochs, request.name) == (
        "/photos/pets", "/models/start.pth", 8, "pets"
    )  # fmt: skip
    assert request.fine_tune and request.augment and request.out_dir == "/m"
    assert model.actions == RUNNING
    assert model.progress == ProgressState(0, 0, "Loading the backbone…")
    assert model.start_training() is None  # one training at a time

    model.on_progress(request.request_id, Progress("features", 3, 20))
    assert model.progress == ProgressState(20, 3, "Reading images: %v of %m")
    assert model.status == Status("Reading images: 3 of 20")
    model.on_progress(request.request_id, epoch(1, 0.5))
    model.on_progress(request.request_id - 1, epoch(7, 0.9))  # an older request's: dropped
    model.on_progress(request.request_id, epoch(2, 0.75))
    assert [e.epoch for e in model.history] == [1, 2] and len(rec.of("epochAdded")) == 2
    assert model.status == Status("Epoch 2 of at most 8: validation accuracy 75.0%")
    model.on_progress(request.request_id, Progress("refitting", 1, 2))
    assert model.progress == ProgressState(2, 1, "Training: epoch %v of at most %m")

    model.on_trained(request.request_id, taught())
    assert rec.last("resultChanged").path == "/m/cat-dog.pth" == model.taught.path
    assert model.status.text.startswith("Trained in 0.3 s on CPU, best epoch 1 of 1.")
    assert "Kept as cat-dog.pth in /m." in model.status.text
    assert model.actions == TAUGHT
    assert model.progress == ProgressState(1, 1, "Done")
    assert rec.of("trainingFinished") == [("done",)]
    assert rec.of("runningChanged") == [(True,), (False,)]  # the curve shows while it runs


def test_a_cancelled_training_drops_its_late_answers_and_can_start_again(model):
    scanned(model)
    rec = Recorder(model, "trainingFinished", "resultChanged")
    first = model.start_training()
    model.cancel_training()
    assert first.cancel.is_set() and not model.actions.cancel
    assert model.status == Status("Cancelling…")
    model.on_cancelled(first.request_id)
    assert rec.of("trainingFinished") == [("cancelled",)]
    assert model.status == Status("Training cancelled.")
    assert model.progress == ProgressState(1, 0, "Cancelled") and model.actions == READY

    second = model.start_training()
    model.on_trained(first.request_id, taught())  # the first one finished after all: dropped
    model.on_train_failed(first.request_id, "stale")
    assert model.taught is None and model.actions == RUNNING
    model.on_train_failed(second.request_id, "Out of memory on GPU 0.")
    assert model.status == Status("Out of memory on GPU 0.", error=True)
    assert rec.of("trainingFinished") == [("cancelled",), ("failed",)]
    assert model.progress.text == "Failed" and model.actions == READY


def test_a_new_folder_clears_the_last_result_and_keeps_a_name_the_user_typed(model):
    scanned(model)
    model.on_trained(model.start_training().request_id, taught())
    rec = Recorder(model, "resultChanged", "curveCleared", "nameChanged")
    scanned(model, "/photos/cars", "bus", "car")
    assert rec.of("resultChanged") == [(None,)] and model.taught is None
    assert rec.of("curveCleared") == [(30,)] and model.history == []
    assert model.progress == ProgressState() and model.status == Status()
    assert model.actions == READY and model.name == "bus-car"

    model.edit_name("my vehicles")
    scanned(model, "/photos/boats", "ferry", "yacht")
    assert model.name == "my vehicles" and rec.of("nameChanged") == [("bus-car",)]


def test_start_from_follows_the_window_until_the_user_chooses(model):
    rec = Recorder(model, "backboneChanged")
    model.follow_model(None)
    assert model.backbone == "" and rec.of("backboneChanged") == [("",)]  # ImageNet
    model.follow_model("/models/window.pth")
    model.on_crashed("Something went wrong in the teach worker.")
    assert model.status.error
    model.choose_backbone("/models/mine.pth")
    assert model.status == Status()  # the error that came with the old one goes
    model.follow_model("/models/window-again.pth")
    assert model.backbone == "/models/mine.pth"
    scanned(model)
    assert model.start_training().backbone == "/models/mine.pth"


def test_the_result_can_be_looked_at_used_and_saved(model):
    rec = Recorder(model, "useModel", "copyRequested")
    model.use_model()
    model.save_to("/backup/x.pth")
    assert rec.calls == []  # nothing taught yet

    model.show_result(taught())
    wrong = model.choose_wrong(0)
    assert wrong is not None and wrong.predicted_label == "dog"
    assert model.wrong_caption == "1.jpg: cat, predicted dog" == model.status.text
    assert model.choose_wrong(5) is None
    model.use_model()
    assert rec.of("useModel") == [("/m/cat-dog.pth",)]
    assert model.status.text == "The window now classifies with cat-dog.pth."
    model.save_to("/backup/x.pth")
    assert rec.of("copyRequested") == [("/m/cat-dog.pth", "/backup/x.pth")]
    model.on_save_failed("No space left on device; the previous file is unchanged.")
    assert model.status.error
    model.on_saved("/backup/x.pth")
    assert model.status == Status("Saved /backup/x.pth.")


def test_the_teach_model_needs_no_widgets():
    code = "import sys, gui.teach_model; print('PySide6.QtWidgets' in sys.modules)"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
