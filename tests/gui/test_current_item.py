"""The item shown and its heat map on their own: the worker's heat maps are handed over as it
would send them, asked for once, then kept."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage
from session_helpers import PHOTOS, Recorder, loaded, result

from core.results import ClassificationResult
from gui.current_item import HEAT_CACHE, CurrentItem
from gui.items import Items
from gui.messages import HeatMap
from gui.model_state import ModelState

IMAGE = QImage(4, 4, QImage.Format.Format_RGB32)


@pytest.fixture
def current(qapp) -> CurrentItem:
    items, model = Items(), ModelState()
    items.open(PHOTOS)
    items.on_expanded(items.drop_id, PHOTOS, [])
    loaded(model)
    return CurrentItem(items, model)


def classified(current: CurrentItem, index: int, res: ClassificationResult | None = None):
    item = current.items[index]
    item.result, item.result_key = res or result(item.name), current.model.key()


def test_only_an_item_there_is_and_not_shown_yet_becomes_current(current):
    assert current.item() is None
    assert current.set(1) and current.item().name == PHOTOS[1]
    assert not current.set(1) and not current.set(3) and current.index == 1
    current.clear()
    assert current.item() is None and current.set(1)


def test_only_the_photo_of_the_item_shown_is_passed_on(current):
    rec = Recorder(current, "imageLoaded")
    current.set(1)
    current.items.viewLoaded.emit(0, IMAGE, "")  # asked for earlier, no longer shown
    current.items.viewLoaded.emit(1, IMAGE, "")
    assert rec.of("imageLoaded") == [(1, IMAGE, "")]


def test_heat_maps_are_asked_for_once_and_then_come_from_the_cache(current):
    rec = Recorder(current, "explainRequested", "heatChanged")
    current.set(0)
    assert current.heat_state(512).text == "Waiting for the prediction…"
    classified(current, 0)

    waiting = current.heat_state(512)
    assert (waiting.heat, waiting.text) == (None, "Making the heat map for “tabby”…")
    current.heat_state(512)  # asked again while the worker is busy with it: no second request
    ((explain,),) = rec.of("explainRequested")
    assert (explain.source, explain.class_index, explain.max_side) == (PHOTOS[0], 281, 512)

    heat = HeatMap(IMAGE, 281, "tabby", 0.9)
    current.on_explained(explain.request_id - 1, heat)  # an older request's answer
    assert rec.of("heatChanged") == []
    current.on_explained(explain.request_id, heat)
    assert len(rec.of("heatChanged")) == 1
    shown = current.heat_state(512)
    assert shown.heat is heat and shown.rank == 0
    assert len(rec.of("explainRequested")) == 1
    assert current.heat_maps_cached() <= HEAT_CACHE


def test_an_image_that_failed_has_no_heat_map(current):
    rec = Recorder(current, "explainRequested")
    current.set(0)
    failed = ClassificationResult(path=PHOTOS[0], error="cat.jpg is not an image.", device="cpu")
    classified(current, 0, failed)
    assert not current.pick(2)
    assert current.heat_state(512).text == "No heat map: this image could not be classified."
    assert rec.of("explainRequested") == []


def test_a_failed_heat_map_is_said_and_asked_again_next_time(current):
    rec = Recorder(current, "explainRequested", "heatFailed")
    current.set(0)
    classified(current, 0)
    current.heat_state(512)
    ((explain,),) = rec.of("explainRequested")
    current.on_explain_failed(explain.request_id, "out of memory")
    assert rec.of("heatFailed") == [("out of memory",)]
    current.heat_state(512)
    assert len(rec.of("explainRequested")) == 2


def test_a_new_drop_forgets_the_item_shown_and_its_heat_maps(current):
    rec = Recorder(current, "explainRequested")
    current.set(0)
    classified(current, 0)
    current.heat_state(512)
    ((explain,),) = rec.of("explainRequested")
    current.on_explained(explain.request_id, HeatMap(IMAGE, 281, "tabby", 0.9))
    assert current.heat_maps_cached() == 1
    current.items.open(PHOTOS[:2])
    current.items.on_expanded(current.items.drop_id, PHOTOS[:2], [])
    assert current.index == -1 and current.heat_maps_cached() == 0


def test_a_pick_is_kept_within_the_predictions_there_are(current):
    current.set(0)
    classified(current, 0)
    assert current.pick(4) and current.heat_rank == 0  # one prediction only
    current.set(1)
    assert not current.pick(0)  # no result yet
