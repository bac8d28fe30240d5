"""The images of the current drop on their own: the loader's answers are handed over as it
would send them, and only those of the latest drop count."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage
from session_helpers import PHOTOS, Recorder, result

from core import PASTED_IMAGE
from gui.items import Items

IMAGE = QImage(4, 4, QImage.Format.Format_RGB32)


@pytest.fixture
def items(qapp) -> Items:
    return Items()


def expanded(items: Items, paths: list[str], problems: list[str] = (), join: bool = False):
    items.open(paths, join=join)
    items.on_expanded(items.drop_id, list(paths), list(problems))


def test_a_drop_expanded_after_a_newer_drop_is_ignored(items):
    rec = Recorder(items, "expandRequested", "expanded", "loaderCurrent")
    items.open(["/photos"])
    items.open(["/other"])
    (first, _), (second, sources) = rec.of("expandRequested")
    assert sources == ["/other"] and rec.of("loaderCurrent")[-1] == (second,)

    items.on_expanded(first, ["/photos/old.jpg"], [])
    assert rec.of("expanded") == [] and len(items) == 0
    items.on_expanded(second, PHOTOS, ["broken.jpg could not be read."])
    assert rec.of("expanded") == [(["broken.jpg could not be read."], True)]
    assert [item.name for item in items] == PHOTOS


def test_a_drop_with_nothing_usable_keeps_the_images_and_says_why(items):
    expanded(items, PHOTOS)
    rec = Recorder(items, "expanded", "replacing")
    items.open(["/empty"], ["/gone.jpg does not exist."])
    items.on_expanded(items.drop_id, [], ["/empty holds no images."])
    assert rec.of("expanded") == [(["/gone.jpg does not exist.", "/empty holds no images."], False)]
    assert rec.of("replacing") == []
    assert [item.name for item in items] == PHOTOS


def test_a_new_drop_replaces_the_list_and_says_so_first(items):
    expanded(items, PHOTOS[:1])
    old = items.as_list()
    heard: list[str] = []
    items.replacing.connect(lambda: heard.append(f"replacing {len(items)}"))
    items.expanded.connect(lambda *_: heard.append(f"expanded {len(items)}"))
    expanded(items, PHOTOS)
    assert heard == ["replacing 1", "expanded 3"]
    assert items.as_list() is not old and items.first_new == 0


def test_a_drop_that_joins_goes_at_the_end(items):
    expanded(items, PHOTOS[:2])
    rec = Recorder(items, "replacing")
    expanded(items, [b"\x89PNG"], join=True)
    assert [item.name for item in items] == [*PHOTOS[:2], PASTED_IMAGE]
    assert items.first_new == 2 and rec.of("replacing") == []


def test_pictures_of_an_older_drop_or_of_no_item_are_dropped(items):
    expanded(items, PHOTOS)
    rec = Recorder(items, "imageRequested", "viewLoaded", "thumbnailLoaded")
    items.request_image(1, 512)
    items.request_image(7, 512)  # no such item: nothing asked
    ((job,),) = rec.of("imageRequested")
    assert (job.index, job.source, job.max_side, job.kind) == (1, PHOTOS[1], 512, "view")

    items.on_image_loaded(job.request_id - 1, 1, "view", IMAGE, "")
    items.on_image_loaded(job.request_id, 9, "thumb", IMAGE, "")
    assert rec.of("viewLoaded") == [] and rec.of("thumbnailLoaded") == []
    items.on_image_loaded(job.request_id, 1, "view", IMAGE, "")
    items.on_image_loaded(job.request_id, 2, "thumb", IMAGE, "")
    assert rec.of("viewLoaded") == [(1, IMAGE, "")]
    assert rec.of("thumbnailLoaded") == [(2, IMAGE)]


def test_results_are_read_in_the_order_asked(items):
    expanded(items, PHOTOS)
    assert not items.has_results()
    items[2].result = result(PHOTOS[2])
    items[0].result = result(PHOTOS[0])
    assert items.has_results()
    assert items.results_in([2, 1, 0]) == [result(PHOTOS[2]), result(PHOTOS[0])]
    assert items.get(5) is None and items.get(-1) is None


def test_a_closed_list_takes_no_more_drops(items):
    items.open(PHOTOS)
    items.close()
    items.on_expanded(items.drop_id, PHOTOS, [])
    assert len(items) == 0
