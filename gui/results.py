"""The results table for many images: a model over the session's items, and the panel around it.

Thumbnails are asked for only when a row is painted and kept in a small most-recently-used
cache, so a folder of 5,000 photos costs no more picture memory than one of 50.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QGuiApplication,
    QImage,
    QKeySequence,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core import PASTED_IMAGE, elide_middle, is_unsure, printable
from gui.plain_text import tip
from gui.unsure import unsure_mark
from gui.widgets import percent_text

if TYPE_CHECKING:
    from gui.session import Item

FILE, LABEL, CONFIDENCE, ERROR = range(4)
HEADERS = ("File", "Top-1", "Confidence", "Error")
SORT_ROLE = Qt.ItemDataRole.UserRole
THUMB_CACHE = 256
"""Thumbnails kept at once: a few screens' worth, whatever the number of rows."""

_Index = QModelIndex | QPersistentModelIndex


class ResultsModel(QAbstractTableModel):
    """One row per item of the current drop: thumbnail and name, top-1, confidence, error.

    It reads the window's `Item` list; the window calls `item_changed(row)` when a result
    arrives. `thumbnailWanted(row)` asks for a thumbnail the first time a row is painted.
    """

    thumbnailWanted = Signal(int)

    def __init__(self, thumb_side: int, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: Sequence[Item] = ()
        self._side = thumb_side
        self._thumbs: collections.OrderedDict[int, QPixmap | None] = collections.OrderedDict()
        self._asked: set[int] = set()
        self._blank = QPixmap()
        self._warning: Any = None
        self.threshold = 0.0  # a top-1 under it is unsure: marked (gui/unsure.py sets it)
        self.corrections: dict[str, str] = {}  # item name -> the class a person gave it
        self.running = False  # rows without a result are "waiting", else "not classified"

    # ---- contents -------------------------------------------------------------------
    def set_items(self, items: Sequence[Item]) -> None:
        self.beginResetModel()
        self._items = items
        self._thumbs.clear()
        self._asked.clear()
        self.endResetModel()

    def set_marks(self, threshold: float, corrections: dict[str, str]) -> None:
        """Mark the rows under `threshold` unsure, and show the classes people gave."""
        self.threshold, self.corrections = threshold, corrections
        self.all_changed()

    def item(self, row: int) -> Item | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def item_changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))

    def all_changed(self) -> None:
        if self._items:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._items) - 1, ERROR))

    def set_thumbnail(self, row: int, image: QImage, dpr: float) -> None:
        """Store `image` (None or null: it could not be read) centred in a square."""
        if not 0 <= row < len(self._items):
            return
        pixmap = None
        if not image.isNull():
            side = round(self._side * dpr)
            pixmap = QPixmap(side, side)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            scaled = image.scaled(
                side,
                side,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            painter.drawImage((side - scaled.width()) // 2, (side - scaled.height()) // 2, scaled)
            painter.end()
            pixmap.setDevicePixelRatio(dpr)
        self._thumbs[row] = pixmap
        self._thumbs.move_to_end(row)
        while len(self._thumbs) > THUMB_CACHE:
            old, _ = self._thumbs.popitem(last=False)
            self._asked.discard(old)  # asked again when it is painted again
        index = self.index(row, FILE)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def thumbnail_count(self) -> int:
        return len(self._thumbs)

    # ---- Qt's model interface -------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.TextAlignmentRole
            and section == CONFIDENCE
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        item = self.item(index.row())
        if item is None:
            return None
        column = index.column()
        result = item.result
        if role == Qt.ItemDataRole.DisplayRole:  # the view elides what does not fit
            return elide_middle(printable(self._text(item, column)), CELL_LIMIT)
        if role == SORT_ROLE:
            return self._sort_key(item, column)
        if column == CONFIDENCE and role != Qt.ItemDataRole.DisplayRole and self.unsure(item):
            return unsure_mark(role, self.threshold)
        if role == Qt.ItemDataRole.DecorationRole:
            if column == FILE:
                return self._thumbnail(index.row())
            if column == ERROR and result is not None and not result.ok:
                return self._warning_icon()
            return None
        if role == Qt.ItemDataRole.ToolTipRole:  # tooltips guess rich text: escaped
            if column == ERROR and result is not None and result.error:
                return tip(result.error)
            if column == LABEL and result is not None and result.ok:
                return tip(
                    "\n".join(
                        f"{p.label}: {percent_text(p.probability)}" for p in result.predictions
                    )
                )
            return tip(item.name)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == CONFIDENCE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and result is None and column == LABEL:
            return QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        return None

    def unsure(self, item: Item) -> bool:
        return item.result is not None and is_unsure(item.result, self.threshold)

    def _text(self, item: Item, column: int) -> str:
        result = item.result
        if column == FILE:
            return _file_name(item.name)
        if result is None:
            if column == LABEL:
                return "waiting…" if self.running else "not classified"
            return ""
        if column == LABEL and item.name in self.corrections:
            given = self.corrections[item.name]
            return f"{given} ✓" if result.ok and result.top.label == given else f"{given} ✎"
        if column == LABEL:
            return result.top.label if result.ok and result.top is not None else ""
        if column == CONFIDENCE:
            return percent_text(result.top.probability) if result.ok and result.top else ""
        # The row already names the file: "broken.jpg: the file is damaged…" loses its prefix.
        return (result.error or "").removeprefix(f"{_file_name(item.name)}: ")

    def _sort_key(self, item: Item, column: int) -> Any:
        result = item.result
        if column == FILE:
            return _file_name(item.name).lower()
        if column == CONFIDENCE:
            if result is None:
                return -2.0
            return result.top.probability if result.ok and result.top else -1.0
        return self._text(item, column).lower()

    def _thumbnail(self, row: int) -> QPixmap | None:
        if row in self._thumbs:
            self._thumbs.move_to_end(row)
            pixmap = self._thumbs[row]
            return pixmap if pixmap is not None else self._warning_icon()
        if row not in self._asked:
            self._asked.add(row)
            self.thumbnailWanted.emit(row)
        if self._blank.isNull():
            self._blank = QPixmap(self._side, self._side)
            self._blank.fill(Qt.GlobalColor.transparent)
        return self._blank

    def _warning_icon(self) -> Any:
        if self._warning is None:
            icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            self._warning = icon
        return self._warning


class ResultsFilter(QSortFilterProxyModel):
    """Sorts by each column's sort key (confidence as a number); filters on the top-1 label."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(LABEL)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    only_unsure = False  # show only the rows under the model's threshold

    def set_only_unsure(self, on: bool) -> None:
        self.only_unsure = on
        self.invalidate()

    def filterAcceptsRow(self, row: int, parent: _Index) -> bool:
        if self.only_unsure:
            model = self.sourceModel()
            item = model.item(row)
            if item is None or not model.unsure(item):
                return False
        return super().filterAcceptsRow(row, parent)

    def lessThan(self, left: _Index, right: _Index) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a == b:  # ties keep the order the images came in
            return left.row() < right.row()
        return a < b


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
            cells = [item.name] + [self.model._text(item, c) for c in (LABEL, CONFIDENCE, ERROR)]
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


CELL_LIMIT = 300  # characters of a name or label in a cell


def eta_text(seconds: float) -> str:
    """ "about 3 min left", "about 40 s left", "a few seconds left"."""
    if seconds < 5:
        return "a few seconds left"
    if seconds < 60:
        return f"about {round(seconds / 5) * 5:.0f} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60):.0f} min left"
    return f"about {seconds / 3600:.1f} h left"


def _file_name(name: str) -> str:
    return Path(name).name if name != PASTED_IMAGE else name
