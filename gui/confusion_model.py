"""The Teach dialog's confusion matrix as a table model: cells are made when painted.

A QTableWidget made one item per cell: 250,000 of them for 500 classes, a 1.75 s stall of the
UI thread. This model holds the counts and answers for the cells on screen only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from core import elide_middle, printable
from gui.plain_text import tip

HEADER_LIMIT = 40  # characters of a class name in a header
MATRIX_ROWS = 10  # the view is as tall as this many rows at most; more scroll
RIGHT, WRONG = QColor("#2e8b57"), QColor("#c0392b")

_Index = QModelIndex | QPersistentModelIndex


class ConfusionModel(QAbstractTableModel):
    """Rows: the true class; columns: the predicted one; a cell tinted by its share of the row."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.names: tuple[str, ...] = ()
        self.matrix: tuple[tuple[int, ...], ...] = ()
        self._totals: tuple[int, ...] = ()

    def set_matrix(self, names: Sequence[str], matrix: Sequence[Sequence[int]]) -> None:
        self.beginResetModel()
        self.names = tuple(names)
        self.matrix = tuple(tuple(int(v) for v in row) for row in matrix)
        self._totals = tuple(sum(row) or 1 for row in self.matrix)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.matrix)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.names)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if not 0 <= section < len(self.names):
            return None
        name = self.names[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return elide_middle(printable(name), HEADER_LIMIT)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip(name)
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        i, j = index.row(), index.column()
        if not (0 <= i < len(self.matrix) and 0 <= j < len(self.matrix[i])):
            return None
        value = self.matrix[i][j]
        if role == Qt.ItemDataRole.DisplayRole:
            return str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.BackgroundRole and value:
            color = QColor(RIGHT if i == j else WRONG)
            color.setAlphaF(0.15 + 0.6 * value / self._totals[i])
            return color
        return None


class ConfusionView(QTableView):
    """The matrix on screen: as big as its cells when there are few; many scroll, and never
    make the dialog taller or wider than the screen."""

    def __init__(self) -> None:
        super().__init__()
        self.setModel(ConfusionModel(self))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setToolTip("Held-out images: rows are the true class, columns the guess")
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setSizeAdjustPolicy(QTableView.SizeAdjustPolicy.AdjustToContents)
        self.setMaximumHeight(self.verticalHeader().defaultSectionSize() * (MATRIX_ROWS + 1) + 4)

    def set_matrix(self, names: Sequence[str], matrix: Sequence[Sequence[int]]) -> None:
        self.confusion.set_matrix(names, matrix)
        policy = QTableView.SizeAdjustPolicy
        few = len(names) <= MATRIX_ROWS
        self.setSizeAdjustPolicy(policy.AdjustToContents if few else policy.AdjustIgnored)

    def matrix(self) -> tuple[tuple[int, ...], ...]:
        return self.confusion.matrix

    @property
    def confusion(self) -> ConfusionModel:
        model = self.model()
        assert isinstance(model, ConfusionModel)
        return model
