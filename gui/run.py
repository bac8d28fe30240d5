"""One classification run over the items of the drop, without any widget: what it classifies,
how far it is, and whether the user stopped it.

A run classifies every item whose result is missing or came from another model or device
(`ModelState.key()`), the image shown first and the last drop's images next. It goes to the
worker as a request with an id and a cancel event; a result of an abandoned run is dropped here.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from core import ClassificationResult
    from gui.current_item import CurrentItem
    from gui.items import Items
    from gui.model_state import ModelState


class Run(QObject):
    """The run under way or the last one: `total` images, `done` of them, `stopped` by the user."""

    classifyRequested = Signal(object)  # ClassifyRequest, for the worker
    statusChanged = Signal(str)
    runStarted = Signal(int)  # how many images this run classifies
    runAbandoned = Signal()  # what the last run still sends is dropped from now on
    itemClassified = Signal(int, object)  # index in the drop, ClassificationResult
    runFinished = Signal()
    runCancelled = Signal(int)  # how many images are left without a result
    upToDate = Signal()  # nothing to classify: every result is from the model in use

    def __init__(
        self,
        items: Items,
        model: ModelState,
        current: CurrentItem,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.items, self.model, self.current = items, model, current
        self.total = 0
        self.done = 0
        self.stopped = False  # the user stopped the last run: what is left waits
        self.closing = False
        self._id = 0
        self._map: list[int] = []  # request index -> item index, current request
        self._cancel: threading.Event | None = None
        self._key: tuple[int, str] | None = None  # the model and device this run's results are of
        items.replacing.connect(self._on_replacing)

    def running(self) -> bool:
        """A classification run is under way (not stopped, not finished)."""
        return self._cancel is not None

    def classify_stale(self) -> None:
        """Classify every item whose result is missing or came from another model or device."""
        key = self.model.key()
        if key is None or not len(self.items):
            return
        todo = [i for i, item in enumerate(self.items) if item.result_key != key]
        if not todo:
            self.upToDate.emit()
            return
        todo.sort(key=lambda i: i < self.items.first_new)  # the newest drop first in line (stable)
        if self.current.index in todo:  # the one in view first
            todo.remove(self.current.index)
            todo.insert(0, self.current.index)
        self.cancel_classify()
        self._id += 1
        self._map = todo
        self._cancel = threading.Event()
        self._key = key
        from gui.messages import ClassifyRequest

        request = ClassifyRequest(
            self._id, tuple(self.items[i].source for i in todo), cancel=self._cancel
        )
        self.total, self.done = len(todo), 0
        self.stopped = False
        self.runStarted.emit(len(todo))
        self.classifyRequested.emit(request)

    def cancel_classify(self) -> None:
        """Drop the run: it stops, and whatever it still sends is ignored."""
        if self._cancel is not None:
            self._cancel.set()
            self._cancel = None
        self._id += 1
        self.runAbandoned.emit()

    def cancel_run(self) -> None:
        """Stop the run between two images; every result made so far stays."""
        if self._cancel is not None:
            self._cancel.set()  # same request id: results already on their way count
            self.statusChanged.emit("Stopping…")

    def _on_replacing(self) -> None:
        """A new drop replaces the items: the run over the old ones is dropped."""
        self.cancel_classify()
        self.stopped = False

    def on_result(self, request_id: int, index: int, result: ClassificationResult) -> None:
        if request_id != self._id or self.closing or index >= len(self._map):
            return
        item_index = self._map[index]
        item = self.items[item_index]
        item.result = result
        item.result_key = self._key
        self.done += 1
        self.itemClassified.emit(item_index, result)

    def on_classify_finished(self, request_id: int, cancelled: bool) -> None:
        if request_id != self._id or self.closing:
            return
        self._cancel = None
        if not cancelled:
            self.runFinished.emit()
            return
        self.stopped = True
        self.runCancelled.emit(self.total - self.done)

    def close(self) -> None:
        """Cancel the run and drop every answer from now on."""
        self.closing = True
        if self._cancel is not None:
            self._cancel.set()
