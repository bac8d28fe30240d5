"""The rows of the results table: what each item of the drop says in each column, and how the
table sorts and filters them.

Thumbnails are asked for only when a row is painted and kept in a small most-recently-used
cache, so a folder of 5,000 photos costs no more picture memory than one of 50.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QGuiApplication, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from core import PASTED_IMAGE, elide_middle, is_unsure, printable
from gui.plain_text import tip
from gui.unsure import unsure_mark
from gui.widgets import percent_text

if TYPE_CHECKING:
    from gui.items import Item

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
            return elide_middle(printable(self.text(item, column)), CELL_LIMIT)
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

    def text(self, item: Item, column: int) -> str:
        result = item.result
        if column == FILE:
            return file_name(item.name)
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
        return (result.error or "").removeprefix(f"{file_name(item.name)}: ")

    def _sort_key(self, item: Item, column: int) -> Any:
        result = item.result
        if column == FILE:
            return file_name(item.name).lower()
        if column == CONFIDENCE:
            if result is None:
                return -2.0
            return result.top.probability if result.ok and result.top else -1.0
        return self.text(item, column).lower()

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


CELL_LIMIT = 300  # characters of a name or label in a cell


def file_name(name: str) -> str:
    """The name a row shows: the file's own name, or "pasted image"."""
    return Path(name).name if name != PASTED_IMAGE else name
