"""The session on its own, no window and no worker: it is handed the answers a worker would
send, and must keep only those to what is current, in the order a person expects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from core.results import ClassificationResult, ModelInfo, Prediction
from gui.messages import HeatMap, ModelFailure
from gui.session import HEAT_CACHE, Session

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ["/photos/cat.jpg", "/photos/dog.jpg", "/photos/boat.png"]
IMAGENET = ModelInfo(source="ImageNet", num_classes=1000, device="cpu", device_name="CPU")


class Recorder:
    """Every emission of the signals asked for, as (name, args) in order."""

    def __init__(self, session: Session, *names: str) -> None:
        self.calls: list[tuple[str, tuple]] = []
        for name in names:
            getattr(session, name).connect(lambda *a, n=name: self.calls.append((n, a)))

    def of(self, name: str) -> list[tuple]:
        return [args for n, args in self.calls if n == name]


def result(path: str, label: str = "tabby", probability: float = 0.9) -> ClassificationResult:
    prediction = Prediction(rank=1, index=281, label=label, probability=probability)
    return ClassificationResult(path=path, predictions=(prediction,), device="cpu", seconds=0.02)


def loaded(session: Session, info: ModelInfo = IMAGENET) -> int:
    """Ask for the model and answer as the worker would; returns the load's request id."""
    requests = Recorder(session, "loadRequested")
    session.load(None, None, remember=False)
    request_id = requests.of("loadRequested")[-1][0].request_id
    session.on_model_loaded(request_id, info)
    return request_id


def dropped(session: Session, paths: list[str], problems: tuple[str, ...] = ()) -> None:
    """Drop `paths` and answer as the loader would; then, as the window does, show the first
    image and classify what needs it."""
    session.open(paths)
    session.on_expanded(session.drop_id, list(paths), list(problems))
    session.set_current(0)
    session.classify_stale()


@pytest.fixture
def session(qapp) -> Session:
    return Session()


def test_a_drop_expanded_after_a_newer_drop_is_ignored(session):
    rec = Recorder(session, "expandRequested", "expanded")
    session.open(["/photos"])
    session.open(["/other"])
    (first, _), (second, sources) = rec.of("expandRequested")
    assert sources == ["/other"]

    session.on_expanded(first, ["/photos/old.jpg"], [])
    assert rec.of("expanded") == []
    session.on_expanded(second, PHOTOS, ["broken.jpg could not be read."])
    assert rec.of("expanded") == [(["broken.jpg could not be read."], True)]
    assert [item.name for item in session.items] == PHOTOS


def test_a_drop_with_nothing_usable_keeps_the_images_shown(session):
    dropped(session, PHOTOS)
    session.set_current(1)
    rec = Recorder(session, "expanded")
    session.open(["/empty"])
    session.on_expanded(session.drop_id, [], ["/empty holds no images."])
    assert rec.of("expanded") == [(["/empty holds no images."], False)]
    assert len(session.items) == 3 and session.current == 1


def test_the_image_in_view_is_classified_first(session):
    rec = Recorder(session, "classifyRequested", "runStarted", "itemClassified")
    dropped(session, PHOTOS)
    session.set_current(2)
    loaded(session)
    (request,) = rec.of("classifyRequested")[-1]
    assert request.sources == (PHOTOS[2], PHOTOS[0], PHOTOS[1])
    assert rec.of("runStarted")[-1] == (3,)

    session.on_result(request.request_id, 0, result(PHOTOS[2]))
    assert rec.of("itemClassified") == [(2, result(PHOTOS[2]))]
    assert session.items[2].result == result(PHOTOS[2])
    assert (session.run_done, session.run_total) == (1, 3)


def test_results_of_a_replaced_run_are_dropped(session):
    rec = Recorder(session, "classifyRequested", "itemClassified", "runFinished")
    loaded(session)
    dropped(session, PHOTOS[:2])
    (old,) = rec.of("classifyRequested")[-1]
    dropped(session, PHOTOS[1:])  # a new drop before the first run ended
    (new,) = rec.of("classifyRequested")[-1]
    assert old.cancel.is_set() and not new.cancel.is_set()

    session.on_result(old.request_id, 0, result(PHOTOS[0]))
    session.on_classify_finished(old.request_id, False)
    assert rec.of("itemClassified") == [] and rec.of("runFinished") == []
    assert all(item.result is None for item in session.items)


def test_cancel_keeps_the_results_and_resume_classifies_only_the_rest(session):
    rec = Recorder(session, "classifyRequested", "runCancelled", "statusChanged")
    loaded(session)
    dropped(session, PHOTOS)
    (request,) = rec.of("classifyRequested")[-1]
    session.cancel_run()
    assert request.cancel.is_set()
    assert rec.of("statusChanged")[-1] == ("Stopping…",)
    session.on_result(request.request_id, 0, result(PHOTOS[0]))  # was already on its way
    session.on_classify_finished(request.request_id, True)
    assert rec.of("runCancelled") == [(2,)]
    assert session.run_cancelled and not session.running()

    session.classify_stale()  # Resume
    (resumed,) = rec.of("classifyRequested")[-1]
    assert resumed.sources == (PHOTOS[1], PHOTOS[2])
    assert session.items[0].result == result(PHOTOS[0])


def test_a_new_model_makes_every_result_stale(session):
    rec = Recorder(session, "classifyRequested", "runFinished")
    loaded(session)
    dropped(session, PHOTOS[:2])
    (request,) = rec.of("classifyRequested")[-1]
    for i, path in enumerate(PHOTOS[:2]):
        session.on_result(request.request_id, i, result(path))
    session.on_classify_finished(request.request_id, False)
    assert len(rec.of("runFinished")) == 1
    assert not any(session.is_stale(item) for item in session.items)

    own = ModelInfo(source="birds.pth", num_classes=200, device="cpu", device_name="CPU")
    loaded(session, own)
    assert all(session.is_stale(item) for item in session.items)
    (again,) = rec.of("classifyRequested")[-1]
    assert again.sources == tuple(PHOTOS[:2])


def test_a_failed_first_load_leaves_no_model_and_a_late_answer_is_ignored(session):
    rec = Recorder(session, "loadRequested", "modelFailed", "modelLoaded")
    session.load("/models/broken.pth", None, remember=True)
    (first,) = rec.of("loadRequested")[-1]
    session.load(None, None, remember=True)  # the user went back to ImageNet meanwhile
    (second,) = rec.of("loadRequested")[-1]
    assert first.cancel.is_set()

    session.on_model_failed(first.request_id, ModelFailure("broken.pth is not a checkpoint."))
    session.on_model_loaded(first.request_id, IMAGENET)
    assert rec.of("modelFailed") == [] and rec.of("modelLoaded") == []

    session.on_model_failed(second.request_id, ModelFailure("No network.", offline=True))
    assert rec.of("modelFailed") == [(ModelFailure("No network.", offline=True),)]
    assert session.no_model and session.model is None
    assert session.pending_model == (None, None)


def test_heat_maps_are_asked_for_once_and_then_come_from_the_cache(session):
    rec = Recorder(session, "classifyRequested", "explainRequested", "heatChanged")
    loaded(session)
    dropped(session, PHOTOS[:1])
    (request,) = rec.of("classifyRequested")[-1]
    assert session.heat_state(512).text == "Waiting for the prediction…"
    session.on_result(request.request_id, 0, result(PHOTOS[0]))

    waiting = session.heat_state(512)
    assert (waiting.heat, waiting.text) == (None, "Making the heat map for “tabby”…")
    session.heat_state(512)  # asked again while the worker is busy with it: no second request
    ((explain,),) = rec.of("explainRequested")
    assert (explain.source, explain.class_index, explain.max_side) == (PHOTOS[0], 281, 512)

    heat = HeatMap(QImage(4, 4, QImage.Format.Format_RGB32), 281, "tabby", 0.9)
    session.on_explained(explain.request_id - 1, heat)  # an older request's answer
    assert rec.of("heatChanged") == []
    session.on_explained(explain.request_id, heat)
    assert len(rec.of("heatChanged")) == 1
    shown = session.heat_state(512)
    assert shown.heat is heat and shown.rank == 0
    assert len(rec.of("explainRequested")) == 1
    assert session.heat_maps_cached() <= HEAT_CACHE


def test_an_image_that_failed_has_no_heat_map(session):
    rec = Recorder(session, "classifyRequested", "explainRequested")
    loaded(session)
    dropped(session, PHOTOS[:1])
    (request,) = rec.of("classifyRequested")[-1]
    failed = ClassificationResult(path=PHOTOS[0], error="cat.jpg is not an image.", device="cpu")
    session.on_result(request.request_id, 0, failed)
    assert not session.pick(2)
    assert session.heat_state(512).text == "No heat map: this image could not be classified."
    assert rec.of("explainRequested") == []


def test_only_the_last_device_switch_is_answered(session):
    loaded(session)
    asked = Recorder(session, "deviceRequested", "deviceChanged", "deviceFailed")
    session.switch_device("cuda:0")
    session.switch_device("cuda:1")
    (first, _), (second, _) = asked.of("deviceRequested")
    session.on_device_changed(first, ModelInfo("ImageNet", 1000, "cuda:0", "GPU 0"))
    session.on_device_failed(first, "out of memory")
    assert asked.of("deviceChanged") == [] and asked.of("deviceFailed") == []
    session.on_device_changed(second, ModelInfo("ImageNet", 1000, "cuda:1", "GPU 1"))
    assert session.device == "cuda:1" and len(asked.of("deviceChanged")) == 1


def test_nothing_is_reported_once_the_session_is_closed(session):
    rec = Recorder(session, "classifyRequested", "itemClassified", "expanded")
    loaded(session)
    dropped(session, PHOTOS[:1])
    (request,) = rec.of("classifyRequested")[-1]
    session.open(PHOTOS)
    session.close()
    assert request.cancel.is_set()
    session.on_expanded(session.drop_id, PHOTOS, [])
    assert len(rec.of("expanded")) == 1  # only the first drop's


def test_the_session_needs_no_widgets():
    code = "import sys, gui.session; print('PySide6.QtWidgets' in sys.modules)"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
