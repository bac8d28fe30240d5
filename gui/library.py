"""The photo-library parts of the window: the unsure threshold, File > Write Keywords…,
File > Sort Into Folders…, correcting rows, Model > Review Least Sure… and Teach from
Corrections. The file dialogs work on the results the table shows, in its order; each dialog
is imported when first opened."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence

from core import PASTED_IMAGE
from gui.corrections import CorrectDialog, Corrections
from gui.unsure import Threshold, UnsureView

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDialog, QWidget

    from core import ClassificationResult
    from gui.menus import Menus
    from gui.results_area import ResultsArea
    from gui.results_panel import ResultsPanel
    from gui.review import ReviewDialog
    from gui.session import Session
    from gui.settings import Settings
    from gui.status import StatusBar


class Library(QObject):
    def __init__(
        self,
        window: QWidget,
        session: Session,
        table: ResultsArea,
        settings: Settings,
        menus: Menus,
        status: StatusBar,
    ) -> None:
        super().__init__(window)
        self.window, self.session, self.table, self.settings = window, session, table, settings
        self.threshold = Threshold(settings.unsure_threshold, self)
        self.threshold.changed.connect(self._remember)
        self.unsure = UnsureView(session, self.threshold, status)
        table.built.connect(self.unsure.attach)
        table.built.connect(self._attach)
        self.dialog: QDialog | None = None
        self.review: ReviewDialog | None = None
        self.actions = (menus.keywords_action, menus.sort_action, menus.review_action)
        menus.keywords_action.triggered.connect(self.write_keywords)
        menus.sort_action.triggered.connect(self.sort_into_folders)
        menus.review_action.triggered.connect(self.review_least_sure)
        self.corrections = Corrections(session, window.load_weights, self)
        self.corrections.changed.connect(self._show_corrections)
        self.corrections.said.connect(status.say)
        self.corrections.failed.connect(window.show_error)
        menus.reteach_action.triggered.connect(lambda: self.corrections.teach())
        self.correct_action = QAction("&Correct…", window)
        self.correct_action.setShortcut(QKeySequence("F2"))
        self.correct_action.setToolTip("Give the selected photo its right class")
        self.correct_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.correct_action.triggered.connect(
            lambda: self.ask_correction(session.current_item.index)
        )
        self.similar_action = QAction("Find &Similar", window)
        self.similar_action.setShortcut(QKeySequence("Ctrl+Shift+F"))
        self.similar_action.setToolTip("The photos of the folder most like the selected one")
        self.similar_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.similar_action.triggered.connect(lambda: self.find_similar(session.current_item.index))
        session.run.itemClassified.connect(self._update)
        session.items.expanded.connect(self._update)
        self._update()

    def results(self) -> list[ClassificationResult]:
        """The table's results (its order and filter) that belong to a file on disk."""
        rows = self.table.shown_results()
        return [r for r in rows if r.path != PASTED_IMAGE and Path(r.path).is_file()]

    def write_keywords(self) -> QDialog:
        from gui.keywords_dialog import KeywordsDialog

        return self._open(KeywordsDialog(self.window, self.results(), self.threshold))

    def sort_into_folders(self) -> QDialog:
        from gui.sort_dialog import SortDialog

        results = self.results()
        start = Path(results[0].path).parent / "sorted" if results else Path.home() / "sorted"
        return self._open(SortDialog(self.window, results, self.threshold, str(start)))

    # ---- corrections and the review walk --------------------------------------------------
    def ask_correction(self, index: int) -> CorrectDialog | None:
        """The Correct dialog for item `index` (opened, not run)."""
        if not 0 <= index < len(self.session.items):
            return None
        item = self.session.items[index]
        info = self.session.model_state.info
        labels = info.labels if info is not None else ()
        result = item.result
        current = self.corrections.labels().get(item.name) or (
            result.top.label if result is not None and result.ok else ""
        )
        dialog = CorrectDialog(self.window, item.name, labels, current)
        dialog.accepted.connect(lambda: self._corrected(index, dialog.label()))
        dialog.open()
        return dialog

    def _corrected(self, index: int, label: str) -> None:
        if label and self.corrections.correct(index, label) and self.review is not None:
            self.review.answered(index)

    def review_least_sure(self) -> ReviewDialog:
        from gui.review import ReviewDialog, review_order

        if self.review is not None:
            self.review.close()
        items = self.session.items.as_list()
        labels = self.corrections.labels()
        order = review_order(items, self.threshold.value)
        self.review = ReviewDialog(self.window, items, order, labels.get)
        self.review.shown.connect(self.window.show_item)
        self.review.decided.connect(self._decided)
        self.review.correctWanted.connect(self.ask_correction)
        self.review.teachWanted.connect(lambda: self.corrections.teach())
        self.review.show()
        self.review.start()
        return self.review

    def _decided(self, index: int, label: str) -> None:
        self.corrections.correct(index, label)

    def find_similar(self, index: int, count: int = 10) -> QDialog | None:
        """The photos most like item `index`, by the features that came with the results."""
        import numpy as np

        from core import most_similar
        from gui.similar_dialog import SimilarDialog

        items = self.session.items
        if not 0 <= index < len(items):
            return None
        have = [
            i
            for i, it in enumerate(items)
            if it.result is not None and it.result.features is not None
        ]
        rows = []
        if index in have and len(have) > 1:
            features = np.stack([items[i].result.features for i in have])
            for row, similarity in most_similar(features, have.index(index), count):
                other = have[row]
                rows.append((other, items[other].name, similarity, self._thumbnail(other)))
        dialog = SimilarDialog(self.window, items[index].name, rows)
        dialog.picked.connect(self.window.show_item)
        return self._open(dialog)

    def _thumbnail(self, index: int) -> object:
        panel = self.table.panel
        if panel is None:
            return None
        return panel.model.index(index, 0).data(Qt.ItemDataRole.DecorationRole)

    def _attach(self, panel: ResultsPanel) -> None:
        panel.table.addAction(self.correct_action)
        panel.table.addAction(self.similar_action)
        self._show_corrections()

    def _show_corrections(self) -> None:
        labels = self.corrections.labels()
        if self.review is not None:
            self.review.set_given(labels.get)
        panel = self.table.panel
        if panel is not None:
            panel.model.set_marks(self.threshold.value, labels)

    def _open(self, dialog: QDialog) -> QDialog:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.open()
        return dialog

    def _update(self, *_: object) -> None:
        for action in self.actions:
            action.setEnabled(self.session.items.has_results())

    def _remember(self, value: float) -> None:
        self.settings.unsure_threshold = value
