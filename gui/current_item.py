"""Which image of the drop is shown, and its heat map, without any widget.

The heat map is asked of the worker for the image shown and the prediction picked, tagged with
an id: the answer to an older request is dropped here. The last few heat maps are kept, so
flipping between classes or images is instant.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

    from gui.items import Item, Items
    from gui.messages import HeatMap
    from gui.model_state import ModelState

HEAT_CACHE = 8  # heat maps kept, so flipping between classes or images is instant


class HeatState(NamedTuple):
    """What the heat-map area shows now: a heat map, or a line saying why there is none.

    `rank` is the prediction to highlight, None where there is no prediction to point at.
    (A NamedTuple, not a dataclass: importing dataclasses costs 2 ms before the first paint.)
    """

    heat: HeatMap | None
    text: str
    rank: int | None = None


class CurrentItem(QObject):
    """The index of the item shown (-1: none), the prediction picked and the heat maps."""

    explainRequested = Signal(object)  # ExplainRequest, for the worker
    imageLoaded = Signal(int, object, str)  # index of the item shown, QImage, error
    heatChanged = Signal()  # a heat map arrived: ask `heat_state()` again
    heatFailed = Signal(str)

    def __init__(self, items: Items, model: ModelState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.items, self.model = items, model
        self.index = -1
        self.heat_wanted = False  # the heat map is switched on
        self.heat_rank = 0  # which of the current image's predictions the heat map shows
        self.closing = False
        self._explain_id = 0
        self._heat_pending: tuple | None = None
        self._heat_cache: collections.OrderedDict[tuple, HeatMap] = collections.OrderedDict()
        items.viewLoaded.connect(self._on_view_loaded)
        items.replacing.connect(self._forget)

    def item(self) -> Item | None:
        return self.items.get(self.index)

    def set(self, index: int) -> bool:
        """Make item `index` the current one; False when it already is or does not exist."""
        if not 0 <= index < len(self.items) or index == self.index:
            return False
        self.index = index
        self.heat_rank = 0
        return True

    def clear(self) -> None:
        """No item is shown (a filter hides them all); the next one chosen is shown afresh."""
        self.index = -1

    def _forget(self) -> None:
        """A new drop replaces the items: no item is shown, no heat map is of any use."""
        self._heat_cache.clear()
        self.index = -1

    def _on_view_loaded(self, index: int, image: QImage, error: str) -> None:
        if index == self.index:
            self.imageLoaded.emit(index, image, error)

    # ================================================================== heat map
    def pick(self, rank: int) -> bool:
        """Choose the current image's prediction `rank` (0 = top-1) for the heat map."""
        item = self.item()
        if item is None or item.result is None or not item.result.ok:
            return False
        self.heat_rank = max(0, min(rank, len(item.result.predictions) - 1))
        return True

    def set_heat_wanted(self, on: bool) -> None:
        self.heat_wanted = on
        if not on:
            self._heat_pending = None

    def heat_state(self, max_side: int) -> HeatState:
        """The heat map the current image and class call for, asked of the worker if not cached."""
        item = self.item()
        result = item.result if item is not None else None
        if item is None or result is None or item.result_key != self.model.key():
            return HeatState(None, "Waiting for the prediction…" if item else "")
        if not result.ok:
            return HeatState(None, "No heat map: this image could not be classified.")
        self.heat_rank = min(self.heat_rank, len(result.predictions) - 1)
        prediction = result.predictions[self.heat_rank]
        key = (self.items.drop_id, self.index, prediction.index, item.result_key)
        heat = self._heat_cache.get(key)
        if heat is not None:
            self._heat_cache.move_to_end(key)
            return HeatState(heat, "", self.heat_rank)
        waiting = HeatState(None, f"Making the heat map for “{prediction.label}”…", self.heat_rank)
        if key != self._heat_pending:
            self._heat_pending = key
            self._explain_id += 1
            from gui.messages import ExplainRequest

            self.explainRequested.emit(
                ExplainRequest(self._explain_id, item.source, prediction.index, max_side)
            )
        return waiting

    def on_explained(self, request_id: int, heat: HeatMap) -> None:
        if request_id != self._explain_id or self.closing or self._heat_pending is None:
            return
        self._heat_cache[self._heat_pending] = heat
        while len(self._heat_cache) > HEAT_CACHE:
            self._heat_cache.popitem(last=False)
        self._heat_pending = None
        self.heatChanged.emit()

    def on_explain_failed(self, request_id: int, message: str) -> None:
        if request_id != self._explain_id or self.closing:
            return
        self._heat_pending = None
        self.heatFailed.emit(message)

    def heat_maps_cached(self) -> int:
        return len(self._heat_cache)

    def close(self) -> None:
        """Drop every heat map from now on."""
        self.closing = True
