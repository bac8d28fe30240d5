"""What the window is working on, without any widget: the model, the dropped items and their
results, the current run and the heat-map cache.

The session talks to the background through request signals tagged with ids, and takes the
background's answers in its `on_*` slots; an answer whose id is no longer current is dropped
here, so the window only hears about what it should show. The window observes the session's
signals and paints; it never checks a request id itself.

Only QtCore is imported (the worker module lazily, when the first request is made), so the
session can be made and tested without a window or a display.
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtCore import QObject, Signal

from core import PASTED_IMAGE, summary

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PySide6.QtGui import QImage

    from core import ClassificationResult, DeviceInfo, ModelInfo
    from gui.drops import Source
    from gui.messages import HeatMap, ModelFailure
    from gui.worker import Background

HEAT_CACHE = 8  # heat maps kept, so flipping between classes or images is instant


class Item:
    """One image of the current drop, and what is known of it so far."""

    __slots__ = ("name", "result", "result_key", "source")

    def __init__(self, source: Source, name: str) -> None:
        self.source = source
        self.name = name
        self.result: ClassificationResult | None = None
        self.result_key: tuple[int, str] | None = None  # (model load id, device) it came from


class HeatState(NamedTuple):
    """What the heat-map area shows now: a heat map, or a line saying why there is none.

    `rank` is the prediction to highlight, None where there is no prediction to point at.
    (A NamedTuple, not a dataclass: importing dataclasses costs 2 ms before the first paint.)
    """

    heat: HeatMap | None
    text: str
    rank: int | None = None


def display_name(source: Source) -> str:
    """The name the engine gives a source: its path, or "pasted image" for bytes."""
    return PASTED_IMAGE if isinstance(source, bytes) else str(source)


class Session(QObject):
    """The items of the current drop, the model they are classified with, and the run."""

    # Requests for the background (queued: the workers live on other threads).
    loadRequested = Signal(object)  # LoadRequest
    classifyRequested = Signal(object)  # ClassifyRequest
    deviceRequested = Signal(int, str)
    expandRequested = Signal(int, object)  # drop id, list of sources
    imageRequested = Signal(object)  # ImageJob
    loaderCurrent = Signal(int)  # the drop id whose images are still wanted
    explainRequested = Signal(object)  # ExplainRequest

    # What changed (only answers to current requests get this far).
    statusChanged = Signal(str)
    modelLoaded = Signal(object)  # ModelInfo
    modelFailed = Signal(object)  # ModelFailure (not a cancelled one)
    devicesListed = Signal(object)  # list[DeviceInfo]
    deviceChanged = Signal(object)  # ModelInfo, now on the device asked for
    deviceFailed = Signal(str)
    downloadProgress = Signal(int, int)  # bytes done, total (0: unknown)
    expanded = Signal(object, bool)  # problems (list[str]), whether `items` is a new drop
    imageLoaded = Signal(int, object, str)  # index of the current item, QImage, error
    thumbnailLoaded = Signal(int, object)  # index, QImage (null: unreadable)
    runStarted = Signal(int)  # how many images this run classifies
    runAbandoned = Signal()  # what the last run still sends is dropped from now on
    itemClassified = Signal(int, object)  # index in the drop, ClassificationResult
    runFinished = Signal()
    runCancelled = Signal(int)  # how many images are left without a result
    changed = Signal()  # what the current item shows may have changed
    heatChanged = Signal()  # a heat map arrived: ask `heat_state()` again
    heatFailed = Signal(str)

    def __init__(
        self,
        weights: str | None = None,
        labels: str | None = None,
        device: str = "auto",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.weights, self.labels, self.device = weights, labels, device
        self.model: ModelInfo | None = None
        self.devices: list[DeviceInfo] = []
        self.no_model = False  # a load failed and no earlier model is there
        self.load_remember = False  # the load asked for is to be remembered in the settings
        self.pending_model: tuple[str | None, str | None] = (None, None)
        self.closing = False
        self._items: list[Item] = []
        self.current = -1
        self.drop_id = 0  # one per drop: the loader's answers and the item list
        self._pending_problems: list[str] = []
        self._queued = False  # the drop being expanded joins the running one
        self.first_new = 0  # items from here on came with the last drop: classified first
        self._load_id = 0
        self._model_id = 0  # the load id of the model in use: a failed load leaves it as it was
        self._load_cancel: threading.Event | None = None
        self._device_id = 0
        self._classify_id = 0
        self._classify_map: list[int] = []  # request index -> item index, current request
        self._classify_cancel: threading.Event | None = None
        self._running_key: tuple[int, str] | None = None
        self.run_total = 0
        self.run_done = 0
        self.run_cancelled = False  # the user stopped the last run: what is left waits
        self.heat_wanted = False  # the heat map is switched on
        self.heat_rank = 0  # which of the current image's predictions the heat map shows
        self._explain_id = 0
        self._heat_pending: tuple | None = None
        self._heat_cache: collections.OrderedDict[tuple, HeatMap] = collections.OrderedDict()

    # ================================================================== reading
    @property
    def items(self) -> list[Item]:
        return self._items

    def current_item(self) -> Item | None:
        return self._items[self.current] if 0 <= self.current < len(self._items) else None

    def running(self) -> bool:
        """A classification run is under way (not stopped, not finished)."""
        return self._classify_cancel is not None

    def current_key(self) -> tuple[int, str] | None:
        """(load id, device) that results must come from to be up to date; None: no model."""
        return (self._model_id, self.model.device) if self.model is not None else None

    def is_stale(self, item: Item) -> bool:
        return item.result is not None and item.result_key != self.current_key()

    def waiting_text(self) -> str:
        """Why the current image shows no prediction (yet)."""
        if self.model is None:
            if self.no_model:
                return "No model is loaded: use Model > Load Weights…."
            return "Waiting for the model…"
        if self.run_cancelled and not self.running():
            return "Not classified: the run was stopped."
        return "Classifying…"

    def has_results(self) -> bool:
        return any(item.result is not None for item in self._items)

    def results_in(self, rows: Sequence[int]) -> list[ClassificationResult]:
        """The results of these items, in this order, leaving out those without one."""
        return [r for r in (self._items[i].result for i in rows) if r is not None]

    def connect_background(self, background: Background) -> None:
        """Send the requests to the background's workers and take their answers."""
        worker, loader = background.classifier, background.loader
        self.loadRequested.connect(worker.load)
        self.classifyRequested.connect(worker.classify)
        self.deviceRequested.connect(worker.set_device)
        self.explainRequested.connect(worker.explain)
        self.expandRequested.connect(loader.expand)
        self.imageRequested.connect(loader.load)
        self.loaderCurrent.connect(loader.set_current)
        worker.devicesListed.connect(self.on_devices)
        worker.downloadProgress.connect(self.on_download)
        worker.modelLoaded.connect(self.on_model_loaded)
        worker.modelFailed.connect(self.on_model_failed)
        worker.deviceChanged.connect(self.on_device_changed)
        worker.deviceFailed.connect(self.on_device_failed)
        worker.deviceFellBack.connect(self.on_device_fell_back)
        worker.resultReady.connect(self.on_result)
        worker.classifyFinished.connect(self.on_classify_finished)
        worker.explained.connect(self.on_explained)
        worker.explainFailed.connect(self.on_explain_failed)
        loader.expanded.connect(self.on_expanded)
        loader.imageLoaded.connect(self.on_image_loaded)

    # ================================================================== model
    def load(self, weights: str | None, labels: str | None, remember: bool) -> None:
        """Ask for a model; what runs is cancelled so the worker is free for it at once."""
        if self._load_cancel is not None:
            self._load_cancel.set()
        self.cancel_classify()
        self._load_id += 1
        self._load_cancel = threading.Event()
        self.load_remember = remember
        self.no_model = False
        self.pending_model = (weights, labels)
        from gui.messages import LoadRequest

        request = LoadRequest(
            self._load_id, weights, labels, device=self.device, cancel=self._load_cancel
        )
        self.statusChanged.emit(f"Loading {Path(weights).name if weights else 'ResNet50'}…")
        self.loadRequested.emit(request)

    def retry_load(self) -> None:
        self.load(*self.pending_model, remember=self.load_remember)

    def on_model_loaded(self, request_id: int, info: ModelInfo) -> None:
        if request_id != self._load_id or self.closing:
            return
        self.model = info
        self._model_id = request_id
        self.device = info.device  # where it really runs (a missing GPU falls back to CPU)
        self.weights, self.labels = self.pending_model
        self.modelLoaded.emit(info)
        self.classify_stale()

    def on_model_failed(self, request_id: int, failure: ModelFailure) -> None:
        if request_id != self._load_id or self.closing or failure.cancelled:
            return
        if self.model is None:
            self.no_model = True
        self.modelFailed.emit(failure)
        if self.model is not None:
            # A new checkpoint did not load: the worker still holds the previous model.
            self.classify_stale()  # finish what the load interrupted

    def on_download(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._load_id:
            self.downloadProgress.emit(done, total)

    # ================================================================== devices
    def on_devices(self, devices: list[DeviceInfo]) -> None:
        self.devices = list(devices)
        self.devicesListed.emit(self.devices)

    def device_name(self, device: str) -> str:
        """A device id as a person reads it ("NVIDIA H100", "CPU"); the id if unknown."""
        if self.model is not None and device == self.model.device:
            return self.model.device_name
        return next((d.name for d in self.devices if d.id == device), device)

    def switch_device(self, device: str) -> None:
        """Move the model on the worker, then re-classify; a failure keeps the previous device."""
        if self.model is None:
            self.device = device
            return
        if device == self.model.device:  # already there: nothing to move, nothing to redo
            self.deviceChanged.emit(self.model)  # still the user's choice, to be remembered
            return
        self.cancel_classify()
        self._device_id += 1
        self.deviceRequested.emit(self._device_id, device)

    def on_device_changed(self, request_id: int, info: ModelInfo) -> None:
        if self.closing or request_id != self._device_id:  # a later switch is on its way
            return
        self.model = info
        self.device = info.device
        self.deviceChanged.emit(info)
        self.classify_stale()  # results from the other device are stale by their key

    def on_device_fell_back(self, request_id: int, message: str) -> None:
        """The model being loaded could not use its device (ids of loads, not of switches)."""
        if request_id == self._load_id and not self.closing:
            self.deviceFailed.emit(message)

    def on_device_failed(self, request_id: int, message: str) -> None:
        if self.closing or request_id != self._device_id:
            return
        self.deviceFailed.emit(message)
        if self.model is not None:
            self.classify_stale()

    # ================================================================== items
    def open(
        self, sources: Sequence[Source], problems: Sequence[str] = (), queue: bool = False
    ) -> None:
        """Replace the drop with these files, folders or image bytes (expanded by the loader).

        `queue` (a hand-over from another launch): while a run is under way they join it, at the
        end of the list and first in line, rather than replacing it. The run goes on until the
        expansion is back: a drop of nothing that can be opened leaves it as it was.
        """
        self._queued = queue and self.running()
        self.drop_id += 1
        self.loaderCurrent.emit(self.drop_id)
        self._pending_problems = list(problems)
        self.expandRequested.emit(self.drop_id, list(sources))

    def on_expanded(self, drop_id: int, sources: list[Source], problems: list[str]) -> None:
        if drop_id != self.drop_id or self.closing:
            return
        problems = summary(self._pending_problems + list(problems))  # 80,000 missing: a line
        if sources and self._queued:
            self.first_new = len(self._items)
            self._items.extend(Item(s, display_name(s)) for s in sources)
        elif sources:
            self.cancel_classify()
            self._items = [Item(s, display_name(s)) for s in sources]
            self.run_cancelled = False
            self._heat_cache.clear()
            self.current = -1
            self.first_new = 0
        self.expanded.emit(problems, bool(sources))

    def set_current(self, index: int) -> bool:
        """Make item `index` the current one; False when it already is or does not exist."""
        if not 0 <= index < len(self._items) or index == self.current:
            return False
        self.current = index
        self.heat_rank = 0
        return True

    def clear_current(self) -> None:
        """No item is shown (a filter hides them all); the next one chosen is shown afresh."""
        self.current = -1

    def request_image(self, index: int, max_side: int, kind: str = "view") -> None:
        """Ask the loader for item `index` decoded for display ("view") or as a "thumb"."""
        if 0 <= index < len(self._items):
            from gui.messages import ImageJob

            source = self._items[index].source
            self.imageRequested.emit(ImageJob(self.drop_id, index, source, max_side, kind))

    def on_image_loaded(
        self, drop_id: int, index: int, kind: str, image: QImage, error: str
    ) -> None:
        if drop_id != self.drop_id or not 0 <= index < len(self._items):
            return
        if kind == "thumb":
            self.thumbnailLoaded.emit(index, image)
        elif index == self.current:
            self.imageLoaded.emit(index, image, error)

    # ================================================================== classifying
    def classify_stale(self) -> None:
        """Classify every item whose result is missing or came from another model or device."""
        key = self.current_key()
        if key is None or not self._items:
            return
        todo = [i for i, item in enumerate(self._items) if item.result_key != key]
        if not todo:
            self.changed.emit()
            return
        todo.sort(key=lambda i: i < self.first_new)  # the newest drop first in line (stable)
        if self.current in todo:  # the one in view first
            todo.remove(self.current)
            todo.insert(0, self.current)
        self.cancel_classify()
        self._classify_id += 1
        self._classify_map = todo
        self._classify_cancel = threading.Event()
        self._running_key = key
        from gui.messages import ClassifyRequest

        request = ClassifyRequest(
            self._classify_id,
            tuple(self._items[i].source for i in todo),
            cancel=self._classify_cancel,
        )
        self.run_total, self.run_done = len(todo), 0
        self.run_cancelled = False
        self.runStarted.emit(len(todo))
        self.classifyRequested.emit(request)

    def cancel_classify(self) -> None:
        """Drop the run: it stops, and whatever it still sends is ignored."""
        if self._classify_cancel is not None:
            self._classify_cancel.set()
            self._classify_cancel = None
        self._classify_id += 1
        self.runAbandoned.emit()

    def cancel_run(self) -> None:
        """Stop the run between two images; every result made so far stays."""
        if self._classify_cancel is not None:
            self._classify_cancel.set()  # same request id: results already on their way count
            self.statusChanged.emit("Stopping…")

    def on_result(self, request_id: int, index: int, result: ClassificationResult) -> None:
        if request_id != self._classify_id or self.closing or index >= len(self._classify_map):
            return
        item_index = self._classify_map[index]
        item = self._items[item_index]
        item.result = result
        item.result_key = self._running_key
        self.run_done += 1
        self.itemClassified.emit(item_index, result)

    def on_classify_finished(self, request_id: int, cancelled: bool) -> None:
        if request_id != self._classify_id or self.closing:
            return
        self._classify_cancel = None
        if not cancelled:
            self.runFinished.emit()
            return
        self.run_cancelled = True
        self.runCancelled.emit(self.run_total - self.run_done)

    # ================================================================== heat map
    def pick(self, rank: int) -> bool:
        """Choose the current image's prediction `rank` (0 = top-1) for the heat map."""
        item = self.current_item()
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
        item = self.current_item()
        result = item.result if item is not None else None
        if item is None or result is None or item.result_key != self.current_key():
            return HeatState(None, "Waiting for the prediction…" if item else "")
        if not result.ok:
            return HeatState(None, "No heat map: this image could not be classified.")
        self.heat_rank = min(self.heat_rank, len(result.predictions) - 1)
        prediction = result.predictions[self.heat_rank]
        key = (self.drop_id, self.current, prediction.index, item.result_key)
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

    # ================================================================== closing
    def close(self) -> None:
        """Cancel what runs and drop every answer from now on."""
        self.closing = True
        for event in (self._load_cancel, self._classify_cancel):
            if event is not None:
                event.set()
