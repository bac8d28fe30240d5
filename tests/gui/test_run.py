"""The classification run on its own: results are handed over as the worker would send them,
and only those of the run under way count."""

from __future__ import annotations

import pytest
from session_helpers import IMAGENET, PHOTOS, Recorder, loaded, result

from gui.current_item import CurrentItem
from gui.items import Items
from gui.model_state import ModelState
from gui.run import Run


@pytest.fixture
def run(qapp) -> Run:
    items, model = Items(), ModelState()
    current = CurrentItem(items, model)
    return Run(items, model, current)


def drop(run: Run, paths: list[str], join: bool = False) -> None:
    run.items.open(paths, join=join)
    run.items.on_expanded(run.items.drop_id, list(paths), [])


def test_nothing_runs_without_a_model_or_without_images(run):
    rec = Recorder(run, "classifyRequested", "upToDate")
    drop(run, PHOTOS)
    run.classify_stale()
    assert rec.calls == [] and not run.running()


def test_the_image_in_view_is_classified_first(run):
    rec = Recorder(run, "classifyRequested", "runStarted", "itemClassified")
    loaded(run.model)
    drop(run, PHOTOS)
    run.current.set(2)
    run.classify_stale()
    (request,) = rec.of("classifyRequested")[-1]
    assert request.sources == (PHOTOS[2], PHOTOS[0], PHOTOS[1])
    assert rec.of("runStarted")[-1] == (3,)

    run.on_result(request.request_id, 0, result(PHOTOS[2]))
    assert rec.of("itemClassified") == [(2, result(PHOTOS[2]))]
    assert run.items[2].result == result(PHOTOS[2])
    assert run.items[2].result_key == run.model.key()
    assert (run.done, run.total) == (1, 3)


def test_the_newest_drop_goes_first(run):
    rec = Recorder(run, "classifyRequested")
    loaded(run.model)
    drop(run, PHOTOS[:2])
    drop(run, PHOTOS[2:], join=True)
    run.classify_stale()
    (request,) = rec.of("classifyRequested")[-1]
    assert request.sources == (PHOTOS[2], PHOTOS[0], PHOTOS[1])


def test_results_of_an_abandoned_run_are_dropped(run):
    rec = Recorder(run, "classifyRequested", "itemClassified", "runFinished", "runAbandoned")
    loaded(run.model)
    drop(run, PHOTOS[:2])
    run.classify_stale()
    (old,) = rec.of("classifyRequested")[-1]
    drop(run, PHOTOS[1:])  # a new drop before the first run ended
    assert old.cancel.is_set() and len(rec.of("runAbandoned")) >= 2
    run.classify_stale()
    (new,) = rec.of("classifyRequested")[-1]
    assert not new.cancel.is_set()

    run.on_result(old.request_id, 0, result(PHOTOS[0]))
    run.on_classify_finished(old.request_id, False)
    assert rec.of("itemClassified") == [] and rec.of("runFinished") == []
    assert all(item.result is None for item in run.items)


def test_cancel_keeps_the_results_and_resume_classifies_only_the_rest(run):
    rec = Recorder(run, "classifyRequested", "runCancelled", "statusChanged")
    loaded(run.model)
    drop(run, PHOTOS)
    run.classify_stale()
    (request,) = rec.of("classifyRequested")[-1]
    run.cancel_run()
    assert request.cancel.is_set()
    assert rec.of("statusChanged")[-1] == ("Stopping…",)
    run.on_result(request.request_id, 0, result(PHOTOS[0]))  # was already on its way
    run.on_classify_finished(request.request_id, True)
    assert rec.of("runCancelled") == [(2,)]
    assert run.stopped and not run.running()

    run.classify_stale()  # Resume
    (resumed,) = rec.of("classifyRequested")[-1]
    assert resumed.sources == (PHOTOS[1], PHOTOS[2])
    assert run.items[0].result == result(PHOTOS[0]) and not run.stopped


def test_a_finished_run_has_nothing_left_to_do(run):
    rec = Recorder(run, "classifyRequested", "runFinished", "upToDate")
    loaded(run.model)
    drop(run, PHOTOS[:1])
    run.classify_stale()
    (request,) = rec.of("classifyRequested")[-1]
    run.on_result(request.request_id, 0, result(PHOTOS[0]))
    run.on_classify_finished(request.request_id, False)
    assert len(rec.of("runFinished")) == 1 and not run.running()
    run.classify_stale()
    assert len(rec.of("classifyRequested")) == 1 and len(rec.of("upToDate")) == 1
    assert IMAGENET.device == run.items[0].result_key[1]


def test_a_closed_run_is_cancelled_and_reports_nothing(run):
    rec = Recorder(run, "classifyRequested", "itemClassified")
    loaded(run.model)
    drop(run, PHOTOS[:1])
    run.classify_stale()
    (request,) = rec.of("classifyRequested")[-1]
    run.close()
    assert request.cancel.is_set()
    run.on_result(request.request_id, 0, result(PHOTOS[0]))
    assert rec.of("itemClassified") == []
