"""Small reusable widgets: the prediction bars, and how a probability is written.

They only display what they are given; none of them knows about the worker or the model.
Colours come from the palette, so they follow the system's light or dark scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gui.plain_text import NAME_LIMIT, plain, shown, tip

if TYPE_CHECKING:
    from core import Prediction

BAR_SCALE = 1000
"""Prediction bars run from 0 to this, so a bar's value is its probability in tenths of a percent."""


def percent_text(probability: float) -> str:
    """A probability as a person reads it: "87.3%", "0.04%", "<0.01%"."""
    value = probability * 100
    if value >= 10:
        return f"{value:.1f}%"
    if value >= 0.01:
        return f"{value:.2f}%"
    return "<0.01%"


class PredictionRow(QWidget):
    """One prediction: its label and percentage on a line, and under them a bar as long as it.

    Clicking it emits `clicked`; a selected row is drawn highlighted.
    """

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._selected = False
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.label = QLabel()
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        plain(self.label)
        self.percent = QLabel()
        self.percent.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.bar = QProgressBar()
        self.bar.setRange(0, BAR_SCALE)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        layout = QGridLayout(self)
        layout.setContentsMargins(6, 3, 6, 5)
        layout.setHorizontalSpacing(8)
        layout.setVerticalSpacing(3)
        layout.addWidget(self.label, 0, 0)
        layout.addWidget(self.percent, 0, 1)
        layout.addWidget(self.bar, 1, 0, 1, 2)
        layout.setColumnStretch(0, 1)

    def set_prediction(self, prediction: Prediction | None) -> None:
        if prediction is None:
            self.label.clear()
            self.percent.clear()
            self.bar.setValue(0)
            self.setToolTip("")
            return
        self.label.setText(shown(prediction.label, NAME_LIMIT))
        self.percent.setText(percent_text(prediction.probability))
        self.bar.setValue(round(prediction.probability * BAR_SCALE))
        font = self.label.font()
        font.setBold(prediction.rank == 1)
        self.label.setFont(font)
        self.setToolTip(
            tip(
                f"#{prediction.rank}: {prediction.label} (class {prediction.index}), "
                f"{prediction.probability * 100:.3f}%\nClick to see where the model found it"
            )
        )

    def set_selected(self, selected: bool) -> None:
        if selected != self._selected:
            self._selected = selected
            self.update()

    def is_selected(self) -> bool:
        return self._selected

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
            event.accept()
            return
        super().mousePressEvent(event)

    def paintEvent(self, event) -> None:
        if self._selected:
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            color = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            color.setAlpha(45)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
            painter.end()
        super().paintEvent(event)


class PredictionBars(QWidget):
    """The top-k predictions as rows of label, percentage and bar; clicking a row picks it."""

    picked = Signal(int)  # row (0 = the top prediction)

    def __init__(self, rows: int = 5, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.rows = [PredictionRow() for _ in range(rows)]
        for i, row in enumerate(self.rows):
            layout.addWidget(row)
            row.clicked.connect(lambda i=i: self.picked.emit(i))

    def set_predictions(self, predictions: Sequence[Prediction]) -> None:
        for i, row in enumerate(self.rows):
            row.set_prediction(predictions[i] if i < len(predictions) else None)
            row.setVisible(i < len(predictions))

    def set_selected(self, index: int | None) -> None:
        """Highlight row `index` (None: none)."""
        for i, row in enumerate(self.rows):
            row.set_selected(i == index)

    def selected(self) -> int | None:
        return next((i for i, row in enumerate(self.rows) if row.is_selected()), None)

    def clear(self) -> None:
        self.set_predictions(())

    def texts(self) -> list[tuple[str, str, int]]:
        """(label, percentage, bar value) of each visible row: what a person reads off."""
        return [
            (r.label.text(), r.percent.text(), r.bar.value()) for r in self.rows if not r.isHidden()
        ]
