"""What the window is working on, without any widget: four small models and the rules between
them, as napari's ViewerModel is made of its layer list, dims and camera.

- `items` (gui/items.py): the images of the current drop and their results;
- `current_item` (gui/current_item.py): which of them is shown, and its heat map;
- `run` (gui/run.py): the classification run, its progress, stop and resume;
- `model_state` (gui/model_state.py): the model, the device, loads and switches.

Each talks to the background through its own request signals tagged with ids and drops
answers that are no longer current, so the window hears only what it should show. The rules
here: a load or a device switch stops the run and, once it settles, classifies what is stale;
a new drop stops the run over the old one. Only QtCore is imported (the worker module lazily,
when the first request is made), so the session is made and tested without a display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from gui.current_item import CurrentItem
from gui.items import Item, Items
from gui.model_state import ModelState
from gui.run import Run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gui.drops import Source
    from gui.worker import Background

__all__ = ["Item", "Session"]


class Session(QObject):
    """The items of the current drop, the one shown, the model they are classified with, the run."""

    def __init__(
        self,
        weights: str | None = None,
        labels: str | None = None,
        device: str = "auto",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.model_state = ModelState(weights, labels, device, self)
        self.items = Items(self)
        self.current_item = CurrentItem(self.items, self.model_state, self)
        self.run = Run(self.items, self.model_state, self.current_item, self)
        self.closing = False
        self.model_state.interrupting.connect(self.run.cancel_classify)
        self.model_state.settled.connect(self.run.classify_stale)

    def open(
        self, sources: Sequence[Source], problems: Sequence[str] = (), queue: bool = False
    ) -> None:
        """Replace the drop with these files, folders or image bytes (expanded by the loader).

        `queue` (a hand-over from another launch): while a run is under way they join it, at the
        end of the list and first in line, rather than replacing it. The run goes on until the
        expansion is back: a drop of nothing that can be opened leaves it as it was.
        """
        self.items.open(sources, problems, join=queue and self.run.running())

    def is_stale(self, item: Item) -> bool:
        """The item has a result, but of another model or device than the one in use."""
        return item.result is not None and item.result_key != self.model_state.key()

    def waiting_text(self) -> str:
        """Why the current image shows no prediction (yet)."""
        if self.model_state.info is None:
            if self.model_state.no_model:
                return "No model is loaded: use Model > Load Weights…."
            return "Waiting for the model…"
        if self.run.stopped and not self.run.running():
            return "Not classified: the run was stopped."
        return "Classifying…"

    def connect_background(self, background: Background) -> None:
        """Send the requests to the background's workers and take their answers."""
        worker, loader = background.classifier, background.loader
        m, items, current, run = self.model_state, self.items, self.current_item, self.run
        m.loadRequested.connect(worker.load)
        m.deviceRequested.connect(worker.set_device)
        run.classifyRequested.connect(worker.classify)
        current.explainRequested.connect(worker.explain)
        items.expandRequested.connect(loader.expand)
        items.imageRequested.connect(loader.load)
        items.loaderCurrent.connect(loader.set_current)
        worker.devicesListed.connect(m.on_devices)
        worker.downloadProgress.connect(m.on_download)
        worker.modelLoaded.connect(m.on_model_loaded)
        worker.modelFailed.connect(m.on_model_failed)
        worker.deviceChanged.connect(m.on_device_changed)
        worker.deviceFailed.connect(m.on_device_failed)
        worker.deviceFellBack.connect(m.on_device_fell_back)
        worker.resultReady.connect(run.on_result)
        worker.classifyFinished.connect(run.on_classify_finished)
        worker.explained.connect(current.on_explained)
        worker.explainFailed.connect(current.on_explain_failed)
        loader.expanded.connect(items.on_expanded)
        loader.imageLoaded.connect(items.on_image_loaded)

    def close(self) -> None:
        """Cancel what runs and drop every answer from now on."""
        self.closing = True
        for part in (self.model_state, self.items, self.current_item, self.run):
            part.close()
