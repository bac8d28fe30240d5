"""The results table under the photo, for a drop of several images.

It is built the first time such a drop comes (the table's widget classes cost start-up time)
and from then on kept in step with the session: its rows and their thumbnails, the run's
progress, and which row is the image shown. A row the user picks comes out as `picked`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PySide6.QtGui import QAction, QImage
    from PySide6.QtWidgets import QSplitter

    from core import ClassificationResult
    from gui.items import Item
    from gui.results_panel import ResultsPanel
    from gui.session import Session

THUMB_SIDE = 28  # rows of 34 px: ten of them under the photo on a 1366x768 screen


class ResultsArea(QObject):
    picked = Signal(int)  # index of the item the user chose in the table
    built = Signal(object)  # the ResultsPanel, when it is first built

    def __init__(self, session: Session, splitter: QSplitter, export_action: QAction) -> None:
        super().__init__(splitter)
        self.session, self.splitter, self.export_action = session, splitter, export_action
        self.panel: ResultsPanel | None = None  # built with the first drop of many images
        session.items.thumbnailLoaded.connect(self._on_thumbnail)
        run = session.run
        run.runStarted.connect(self._on_run_started)
        run.runAbandoned.connect(self._on_run_abandoned)
        run.itemClassified.connect(self._on_result)
        run.runFinished.connect(self._on_run_finished)
        run.runCancelled.connect(self._on_run_cancelled)

    def shown(self) -> bool:
        return self.panel is not None and len(self.session.items) > 1

    def show_items(self, items: Sequence[Item]) -> None:
        """Rows for a drop of several images; for a single image the table goes away."""
        many = len(items) > 1
        if many:
            self._build().set_items(items)
        if self.panel is not None:
            if not many:
                self.panel.set_items(())
            self.panel.setVisible(many)

    def select(self, index: int) -> None:
        if self.shown():
            self.panel.select_item(index)

    def step(self, current: int, delta: int) -> int:
        """The item `delta` away from `current`, in the table's order when there is a table."""
        if self.shown():
            return self.panel.neighbour(current, delta)
        return (current + delta) % len(self.session.items)

    def shown_rows(self) -> Sequence[int]:
        """The items the table shows, in its order (every item when there is no table)."""
        return self.panel.shown_rows() if self.shown() else range(len(self.session.items))

    def shown_results(self) -> list[ClassificationResult]:
        """What File > Export and the library's dialogs work on: the results of the items the
        table shows, in its order (those without a result yet left out)."""
        return self.session.items.results_in(self.shown_rows())

    def _build(self) -> ResultsPanel:
        if self.panel is None:
            from gui.results_panel import ResultsPanel

            self.panel = ResultsPanel(THUMB_SIDE)
            self.panel.picked.connect(self.picked)
            self.panel.cancelRequested.connect(self.session.run.cancel_run)
            self.panel.resumeRequested.connect(self.session.run.classify_stale)
            self.panel.model.thumbnailWanted.connect(self._want_thumbnail)
            self.panel.table.addAction(self.export_action)
            self.splitter.addWidget(self.panel)
            self.splitter.setStretchFactor(0, 3)
            self.splitter.setStretchFactor(1, 2)
            height = max(self.splitter.height(), 400)
            self.splitter.setSizes([height * 40 // 100, height * 60 // 100])
            self.built.emit(self.panel)
        return self.panel

    def _want_thumbnail(self, index: int) -> None:
        side = round(THUMB_SIDE * self.splitter.devicePixelRatioF())
        self.session.items.request_image(index, side, "thumb")

    def _on_thumbnail(self, index: int, image: QImage) -> None:
        if self.panel is not None:
            self.panel.model.set_thumbnail(index, image, self.splitter.devicePixelRatioF())

    def _on_run_started(self, total: int) -> None:
        if self.shown():
            self.panel.start_run(total)

    def _on_run_abandoned(self) -> None:
        if self.panel is not None:
            self.panel.show_progress(False)

    def _on_result(self, index: int, _result: ClassificationResult) -> None:
        if self.shown():
            self.panel.item_changed(index)
            self.panel.advance(self.session.run.done)

    def _on_run_finished(self) -> None:
        if self.panel is not None:
            self.panel.end_run(0)

    def _on_run_cancelled(self, left: int) -> None:
        if self.panel is not None:
            self.panel.end_run(left)
