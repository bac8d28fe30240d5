"""Keeps the image view and the prediction panel on the session's current item: its photo,
its bars and meta line, and its heat map while the heat-map action is on.

It reads the session and writes to the two widgets; clicks on a bar and the heat-map action
come back here as the user's intents and go to the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from gui.prediction_panel import heat_text, meta_text
from gui.resources import APP_NAME

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtGui import QAction, QImage

    from core import ClassificationResult
    from gui.image_view import ImageView
    from gui.prediction_panel import PredictionPanel
    from gui.session import Session
    from gui.table_follow import TableFollower

VIEW_MAX_SIDE = 2048  # longest side the loader decodes for the view, before the screen's scale


class CurrentItemView(QObject):
    heatMapShown = Signal(object)  # HeatMap now drawn over the image
    heatMapProblem = Signal(str)

    def __init__(
        self,
        session: Session,
        view: ImageView,
        panel: PredictionPanel,
        heat_action: QAction,
        follower: TableFollower | None = None,
    ) -> None:
        super().__init__(view)
        self.session, self.view, self.panel, self.heat_action = session, view, panel, heat_action
        # "3 of 21" for an item: the table's order when there is one (gui/table_follow.py).
        self.position: Callable[[int], str] = lambda i: (
            f"{i + 1} of {len(session.items)}" if len(session.items) > 1 else ""
        )
        current, run = session.current_item, session.run
        if follower is not None:
            self.position = follower.position
            follower.orderChanged.connect(self.refresh)
            follower.nothingShown.connect(self.show_nothing)
        heat_action.setEnabled(False)  # nothing to map until an image is shown
        current.imageLoaded.connect(self._on_image_loaded)
        current.heatChanged.connect(self._update_heat)
        current.heatFailed.connect(self._on_heat_failed)
        run.upToDate.connect(self.refresh)
        run.runStarted.connect(self.refresh)
        run.itemClassified.connect(self._on_result)
        run.runCancelled.connect(self.refresh)
        panel.picked.connect(self.pick)
        heat_action.toggled.connect(self._heat_toggled)
        panel.set_heat_action(heat_action)

    def show(self, index: int) -> bool:
        """Make item `index` current and ask for its photo; False if it already was (or isn't)."""
        if not self.session.current_item.set(index):
            return False
        self.view.set_image(None)
        self.view.set_overlay(None)
        self.view.set_placeholder("Loading…")
        self.heat_action.setEnabled(True)
        self.session.items.request_image(index, self.view_side())
        self.refresh()
        return True

    def show_nothing(self, text: str) -> None:
        """No image to show (a filter hides them all): `text` where the photo and bars were."""
        self.session.current_item.clear()
        self.view.set_image(None)
        self.view.set_overlay(None)
        self.view.set_placeholder(text)
        self.panel.show_placeholder(text, "")
        self._title(None)
        self.heat_action.setChecked(False)
        self.heat_action.setEnabled(False)

    def view_side(self) -> int:
        return round(VIEW_MAX_SIDE * min(2.0, self.view.devicePixelRatioF()))

    def _on_image_loaded(self, index: int, image: QImage, error: str) -> None:
        self.view.set_image(None if error else image)
        if error:
            self.view.set_placeholder(error)

    def refresh(self) -> None:
        self._refresh_predictions()
        self._update_heat()

    def _on_result(self, index: int, _result: ClassificationResult) -> None:
        if index == self.session.current_item.index:
            self.refresh()

    def _refresh_predictions(self) -> None:
        s, current, model = self.session, self.session.current_item, self.session.model_state
        item = current.item()
        if item is None:
            return
        self.panel.show_name(item.name)
        self._title(item.name)
        result, stale = item.result, s.is_stale(item)
        if result is None or (stale and not result.ok):
            self.panel.show_waiting(s.waiting_text())
            return
        position = self.position(current.index)
        source = model.info.source if model.info is not None else None
        meta = meta_text(result, model.device_name(result.device), source, position)
        selected = current.heat_rank if self.heat_action.isChecked() else None
        self.panel.show_result(result, meta + ("  (updating…)" if stale else ""), selected)

    def _title(self, name: str | None) -> None:
        """The window's title: the file shown and the model ("chelsea.jpg — ImageNet"); Qt adds
        the app's name after it on Linux and Windows."""
        info = self.session.model_state.info
        model = info.source if info is not None else None
        parts = [p for p in (Path(name).name if name else None, model) if p]
        self.view.window().setWindowTitle(" — ".join(parts) if parts else APP_NAME)

    def pick(self, rank: int) -> None:
        """Show the heat map of the current image's prediction `rank` (0 = top-1)."""
        if not self.session.current_item.pick(rank):
            return
        self.panel.bars.set_selected(self.session.current_item.heat_rank)
        if self.heat_action.isChecked():
            self._update_heat()
        else:
            self.heat_action.setChecked(True)  # asking about a class means: show me

    def _heat_toggled(self, on: bool) -> None:
        self.heat_action.setIconText("Hide heat map" if on else "Show heat map")
        self.session.current_item.set_heat_wanted(on)
        if on:
            self._update_heat()
            return
        self.view.set_overlay(None)
        self.panel.heat_label.setVisible(False)
        self.panel.bars.set_selected(None)

    def _update_heat(self) -> None:
        """Show the heat map the current image and class call for, or why there is none."""
        if not self.heat_action.isChecked():
            return
        state = self.session.current_item.heat_state(self.view_side())
        if state.rank is not None:
            self.panel.bars.set_selected(state.rank)
        self.view.set_overlay(state.heat.image if state.heat is not None else None)
        if state.heat is None:
            self.panel.set_heat_text(state.text)
            return
        self.panel.set_heat_text(heat_text(state.heat.label, state.heat.probability))
        self.heatMapShown.emit(state.heat)

    def _on_heat_failed(self, message: str) -> None:
        if self.heat_action.isChecked():
            self.view.set_overlay(None)
            self.panel.set_heat_text(f"⚠ No heat map: {message}")
        self.heatMapProblem.emit(message)
