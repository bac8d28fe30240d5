"""The results table for many images: the table with its filter box, and the run's progress
with Cancel and Resume. What each row says is gui/results_model.py's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui.results_model import CONFIDENCE, ERROR, FILE, HEADERS, LABEL, ResultsFilter, ResultsModel

if TYPE_CHECKING:
    from gui.items import Item


class ResultsPanel(QWidget):
    """The table with its filter box, and the run's progress with Cancel and Resume."""

    picked = Signal(int)  # row of the window's item list
    cancelRequested = Signal()
    resumeRequested = Signal()

    def __init__(self, thumb_side: int = 48, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("results")
        self.model = ResultsModel(thumb_side, self)
        self.proxy = ResultsFilter(self)
        self.proxy.setSourceModel(self.model)
        self._syncing = False

        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Filter by label…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Show only the images whose top-1 label contains this text")
        self.search.textChanged.connect(self._filter)
        self.search.setMaximumWidth(320)
        self.count = QLabel()
        self.count.setObjectName("count")

        self.progress = QProgressBar()
        self.progress.setObjectName("runProgress")
        self.progress.setFormat("%v / %m")
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(160)
        self.progress.setMaximumWidth(240)
        self.eta = QLabel()
        self.eta.setObjectName("eta")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop after the image being classified; keep every result so far")
        self.cancel.clicked.connect(self.cancelRequested)
        self.resume = QPushButton("Resume")
        self.resume.setToolTip("Classify the images that are left")
        self.resume.clicked.connect(self.resumeRequested)
        self.resume.setVisible(False)
        self.show_progress(False)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(8)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.count)
        bar.addStretch(1)
        bar.addWidget(self.eta)
        bar.addWidget(self.progress)
        bar.addWidget(self.cancel)
        bar.addWidget(self.resume)
        self.bar = bar  # others add their controls here (gui/unsure.py)

        self.table = QTableView()
        self.table.setObjectName("resultsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        header = self.table.horizontalHeader()
        header.setSortIndicatorClearable(True)  # a third click: the order the images came in
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.proxy.sort(-1)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setIconSize(QSize(thumb_side, thumb_side))
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows = self.table.verticalHeader()
        rows.setVisible(False)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(thumb_side + 6)
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(FILE, 260)
        self.table.setColumnWidth(LABEL, 220)
        # Room for the title and the sort arrow beside it, never over it.
        title = header.fontMetrics().horizontalAdvance(HEADERS[CONFIDENCE])
        self.table.setColumnWidth(CONFIDENCE, max(110, title + 44))
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

        self.copy_action = QAction("&Copy", self.table)
        self.copy_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Copy))
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.setToolTip("Copy the selected rows as text (tab-separated)")
        self.copy_action.triggered.connect(self.copy_selection)
        self.table.addAction(self.copy_action)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        self._first_result: float | None = None
        self._first_done = 0

    # ---- contents -------------------------------------------------------------------
    def set_items(self, items: Sequence[Item]) -> None:
        self.model.set_items(items)
        self._update_count()

    def item_changed(self, row: int) -> None:
        self.model.item_changed(row)

    def select_item(self, row: int) -> None:
        """Make the window's item `row` the current, selected row, scrolled into view."""
        proxy_index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not proxy_index.isValid():
            return
        if self.table.currentIndex().row() == proxy_index.row():
            return
        self._syncing = True
        try:
            self.table.selectionModel().setCurrentIndex(
                proxy_index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.table.scrollTo(proxy_index)
        finally:
            self._syncing = False

    def neighbour(self, row: int, delta: int) -> int:
        """The item `delta` rows away from item `row` in the table's order (wrapping)."""
        shown = self.proxy.rowCount()
        if shown == 0:
            return row
        here = self.proxy.mapFromSource(self.model.index(row, 0)).row()
        there = (here + delta) % shown if here >= 0 else 0
        return self.proxy.mapToSource(self.proxy.index(there, 0)).row()

    def shown_rows(self) -> list[int]:
        """The item rows the table shows, in its order (sorted, filtered)."""
        return [
            self.proxy.mapToSource(self.proxy.index(r, 0)).row()
            for r in range(self.proxy.rowCount())
        ]

    def selected_rows(self) -> list[int]:
        """The selected item rows, in the table's order."""
        rows = self.table.selectionModel().selectedRows()
        return [self.proxy.mapToSource(i).row() for i in sorted(rows, key=lambda i: i.row())]

    def copy_selection(self) -> str:
        """Put the selected rows on the clipboard: path, top-1, confidence, error, tab-separated."""
        lines = []
        for row in self.selected_rows():
            item = self.model.item(row)
            if item is None:
                continue
            cells = [item.name] + [self.model.text(item, c) for c in (LABEL, CONFIDENCE, ERROR)]
            lines.append("\t".join(cell.replace("\t", " ") for cell in cells))
        text = "\n".join(lines) + ("\n" if lines else "")
        if text:
            QGuiApplication.clipboard().setText(text)
        return text

    # ---- progress -------------------------------------------------------------------
    def start_run(self, total: int) -> None:
        self.model.running = True
        self.model.all_changed()
        self._first_result = None
        self._first_done = 0
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self.eta.setText("")
        self.resume.setVisible(False)
        self.show_progress(total > 1)

    def advance(self, done: int) -> None:
        self.progress.setValue(done)
        now = time.monotonic()
        if self._first_result is None:
            # The first image also pays for warming up: time the rest from here on.
            self._first_result, self._first_done = now, done
            self.eta.setText("")
            return
        left = self.progress.maximum() - done
        rate = (done - self._first_done) / max(now - self._first_result, 1e-6)
        self.eta.setText(eta_text(left / rate) if rate > 0 and left > 0 else "")

    def end_run(self, left: int) -> None:
        """The run ended; `left` images have no result (it was cancelled): offer to resume."""
        self.model.running = False
        self.model.all_changed()
        self.show_progress(False)
        self.resume.setVisible(left > 0)

    def show_progress(self, visible: bool) -> None:
        for widget in (self.progress, self.eta, self.cancel):
            widget.setVisible(visible)

    def progress_text(self) -> str:
        return self.progress.text()

    # ---- internals ------------------------------------------------------------------
    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self._update_count()

    def _update_count(self, *args: object) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        images = "image" if total == 1 else "images"
        self.count.setText(
            f"{total} {images}" if shown == total else f"{shown} of {total} {images} shown"
        )

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        self.picked.emit(self.proxy.mapToSource(current).row())


def eta_text(seconds: float) -> str:
    """ "about 3 min left", "about 40 s left", "a few seconds left"."""
    if seconds < 5:
        return "a few seconds left"
    if seconds < 60:
        return f"about {round(seconds / 5) * 5:.0f} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60):.0f} min left"
    return f"about {seconds / 3600:.1f} h left"
