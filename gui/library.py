"""The photo-library parts of the window: the unsure threshold, File > Write Keywords… and
File > Sort Into Folders…. Each dialog works on the results the table shows, in its order,
and is imported when first opened."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from gui.unsure import Threshold, UnsureView

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDialog, QWidget

    from core.results import ClassificationResult
    from gui.menus import Menus
    from gui.results_area import ResultsArea
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
        self.dialog: QDialog | None = None
        self.actions = (menus.keywords_action, menus.sort_action)
        menus.keywords_action.triggered.connect(self.write_keywords)
        menus.sort_action.triggered.connect(self.sort_into_folders)
        session.itemClassified.connect(self._update)
        session.expanded.connect(self._update)
        self._update()

    def results(self) -> list[ClassificationResult]:
        """The table's results (its order and filter) that belong to a file on disk."""
        rows = self.session.results_in(self.table.shown_rows())
        return [r for r in rows if r.path != "pasted image" and Path(r.path).is_file()]

    def write_keywords(self) -> QDialog:
        from gui.keywords_dialog import KeywordsDialog

        return self._open(KeywordsDialog(self.window, self.results(), self.threshold))

    def sort_into_folders(self) -> QDialog:
        from gui.sort_dialog import SortDialog

        results = self.results()
        start = Path(results[0].path).parent / "sorted" if results else Path.home() / "sorted"
        return self._open(SortDialog(self.window, results, self.threshold, str(start)))

    def _open(self, dialog: QDialog) -> QDialog:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.open()
        return dialog

    def _update(self, *_: object) -> None:
        for action in self.actions:
            action.setEnabled(self.session.has_results())

    def _remember(self, value: float) -> None:
        self.settings.unsure_threshold = value
