"""The session on its own, no window and no worker: the rules between its small models. It is
handed the answers a worker would send, and must keep only those to what is current, in the
order a person expects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from session_helpers import IMAGENET, PHOTOS, Recorder, dropped, loaded, result

from core.results import ModelInfo
from gui.messages import ModelFailure
from gui.session import Session

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def session(qapp) -> Session:
    return Session()


def test_a_drop_before_the_model_is_classified_once_the_model_is_there(session):
    rec = Recorder(session.run, "classifyRequested", "runStarted")
    dropped(session, PHOTOS)
    assert rec.of("classifyRequested") == []
    assert session.waiting_text() == "Waiting for the model…"
    loaded(session.model_state)
    (request,) = rec.of("classifyRequested")[-1]
    assert request.sources == tuple(PHOTOS)
    assert session.waiting_text() == "Classifying…"


def test_a_new_model_makes_every_result_stale_and_classifies_them_again(session):
    rec = Recorder(session.run, "classifyRequested", "runFinished")
    loaded(session.model_state)
    dropped(session, PHOTOS[:2])
    (request,) = rec.of("classifyRequested")[-1]
    for i, path in enumerate(PHOTOS[:2]):
        session.run.on_result(request.request_id, i, result(path))
    session.run.on_classify_finished(request.request_id, False)
    assert len(rec.of("runFinished")) == 1
    assert not any(session.is_stale(item) for item in session.items)

    own = ModelInfo(source="birds.pth", num_classes=200, device="cpu", device_name="CPU")
    loaded(session.model_state, own)
    assert all(session.is_stale(item) for item in session.items)
    (again,) = rec.of("classifyRequested")[-1]
    assert again.sources == tuple(PHOTOS[:2])


def test_a_load_stops_the_run_before_it_is_asked_for(session):
    rec = Recorder(session.run, "classifyRequested")
    loaded(session.model_state)
    dropped(session, PHOTOS)
    (request,) = rec.of("classifyRequested")[-1]
    heard: list[str] = []
    session.run.runAbandoned.connect(lambda: heard.append("abandoned"))
    session.model_state.loadRequested.connect(lambda _: heard.append("load"))
    session.model_state.load("/models/birds.pth", None, remember=True)
    assert heard == ["abandoned", "load"]
    assert request.cancel.is_set() and not session.run.running()


def test_a_failed_load_with_a_model_still_there_finishes_the_interrupted_run(session):
    rec = Recorder(session.run, "classifyRequested")
    loaded(session.model_state)
    dropped(session, PHOTOS)
    asked = Recorder(session.model_state, "loadRequested")
    session.model_state.load("/models/broken.pth", None, remember=True)
    (load,) = asked.of("loadRequested")[-1]
    session.model_state.on_model_failed(load.request_id, ModelFailure("not a checkpoint."))
    (resumed,) = rec.of("classifyRequested")[-1]
    assert resumed.sources == tuple(PHOTOS) and session.run.running()


def test_a_new_drop_abandons_the_run_before_the_window_hears_of_it(session):
    loaded(session.model_state)
    dropped(session, PHOTOS[:2])
    heard: list[str] = []
    session.run.runAbandoned.connect(lambda: heard.append("abandoned"))
    session.items.expanded.connect(lambda *_: heard.append("expanded"))
    session.open(PHOTOS[1:])
    session.items.on_expanded(session.items.drop_id, PHOTOS[1:], [])
    assert heard == ["abandoned", "expanded"]
    assert session.current_item.index == -1 and [i.name for i in session.items] == PHOTOS[1:]


def test_a_hand_over_during_a_run_joins_it_and_goes_first(session):
    rec = Recorder(session.run, "classifyRequested")
    loaded(session.model_state)
    dropped(session, PHOTOS[:2])
    session.open(["/photos/new.jpg"], queue=True)
    session.items.on_expanded(session.items.drop_id, ["/photos/new.jpg"], [])
    assert [i.name for i in session.items] == [*PHOTOS[:2], "/photos/new.jpg"]
    session.run.classify_stale()
    (request,) = rec.of("classifyRequested")[-1]
    assert request.sources == ("/photos/cat.jpg", "/photos/new.jpg", "/photos/dog.jpg")


def test_a_hand_over_with_no_run_replaces_the_drop(session):
    rec = Recorder(session.run, "classifyRequested")
    loaded(session.model_state)
    dropped(session, PHOTOS[:2])
    (request,) = rec.of("classifyRequested")[-1]
    session.run.cancel_run()
    session.run.on_classify_finished(request.request_id, True)  # the run stopped
    session.open(["/photos/new.jpg"], queue=True)
    session.items.on_expanded(session.items.drop_id, ["/photos/new.jpg"], [])
    assert [i.name for i in session.items] == ["/photos/new.jpg"]


def test_a_stopped_run_says_so_where_the_prediction_would_be(session):
    rec = Recorder(session.run, "classifyRequested")
    loaded(session.model_state)
    dropped(session, PHOTOS)
    (request,) = rec.of("classifyRequested")[-1]
    session.run.cancel_run()
    session.run.on_classify_finished(request.request_id, True)
    assert session.waiting_text() == "Not classified: the run was stopped."


def test_a_failed_first_load_says_no_model_is_loaded(session):
    asked = Recorder(session.model_state, "loadRequested")
    session.model_state.load("/models/broken.pth", None, remember=True)
    (load,) = asked.of("loadRequested")[-1]
    session.model_state.on_model_failed(load.request_id, ModelFailure("not a checkpoint."))
    assert session.waiting_text() == "No model is loaded: use Model > Load Weights…."


def test_nothing_is_reported_once_the_session_is_closed(session):
    rec = Recorder(session.run, "classifyRequested", "itemClassified")
    expanded = Recorder(session.items, "expanded")
    loaded(session.model_state)
    dropped(session, PHOTOS[:1])
    (request,) = rec.of("classifyRequested")[-1]
    session.open(PHOTOS)
    session.close()
    assert request.cancel.is_set() and session.closing
    session.items.on_expanded(session.items.drop_id, PHOTOS, [])
    session.run.on_result(request.request_id, 0, result(PHOTOS[0]))
    session.model_state.on_model_loaded(1, IMAGENET)
    assert len(expanded.of("expanded")) == 1  # only the first drop's
    assert rec.of("itemClassified") == []


@pytest.mark.parametrize(
    "module", ["gui.session", "gui.items", "gui.current_item", "gui.run", "gui.model_state"]
)
def test_the_session_and_its_models_need_no_widgets(module):
    code = f"import sys, {module}; print('PySide6.QtWidgets' in sys.modules)"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
