"""The Teach dialog's accuracy curve: training and validation accuracy per epoch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from PySide6.QtGui import QPaintEvent

    from core import EpochStats


class AccuracyCurve(QWidget):
    """Training and validation accuracy per epoch, drawn as the epochs come in."""

    TRAIN = QColor("#4c72b0")
    VAL = QColor("#dd8452")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 170)
        self.epochs: list[EpochStats] = []
        self.total = 1
        self.best = 0

    def clear(self, total: int) -> None:
        self.epochs, self.total, self.best = [], max(1, total), 0
        self.update()

    def add(self, stats: EpochStats) -> None:
        self.epochs.append(stats)
        self.update()

    def set_best(self, epoch: int) -> None:
        self.best = epoch
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        left, top, right, bottom = fm.horizontalAdvance("100%") + 8, 8, 8, fm.height() + 8
        plot = QRectF(left, top, self.width() - left - right, self.height() - top - bottom)
        text = self.palette().color(self.foregroundRole())
        grid = QColor(text)
        grid.setAlpha(50)
        for frac in (0.0, 0.5, 1.0):
            y = plot.bottom() - frac * plot.height()
            p.setPen(QPen(grid, 1))
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.setPen(text)
            p.drawText(
                QRectF(0, y - fm.height() / 2, left - 4, fm.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{round(frac * 100)}%",
            )
        last = max(self.total, len(self.epochs), 2)
        p.drawText(
            QRectF(plot.left(), plot.bottom() + 6, plot.width(), fm.height()),
            Qt.AlignmentFlag.AlignRight,
            f"epoch 1 to {last}",
        )

        def point(epoch: int, value: float) -> QPointF:
            x = plot.left() + (epoch - 1) / (last - 1) * plot.width()
            return QPointF(x, plot.bottom() - value * plot.height())

        if self.best:
            p.setPen(QPen(grid, 1, Qt.PenStyle.DashLine))
            x = point(self.best, 0).x()
            p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        # Validation first, solid with squares; training over it, dashed with circles: where
        # the two agree, both stay visible instead of one hiding the other.
        lines = (
            (self.VAL, "val_accuracy", Qt.PenStyle.SolidLine, "validation (held out)"),
            (self.TRAIN, "train_accuracy", Qt.PenStyle.DashLine, "training"),
        )
        for color, attr, style, _label in lines if self.epochs else ():
            path = QPainterPath(point(self.epochs[0].epoch, getattr(self.epochs[0], attr)))
            for e in self.epochs[1:]:
                path.lineTo(point(e.epoch, getattr(e, attr)))
            p.setPen(QPen(color, 2, style))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
            p.setPen(QPen(color, 1))
            p.setBrush(color)
            for e in self.epochs:
                at = point(e.epoch, getattr(e, attr))
                if style == Qt.PenStyle.SolidLine:
                    p.drawRect(QRectF(at.x() - 3, at.y() - 3, 6, 6))
                else:
                    p.drawEllipse(at, 2.5, 2.5)
        # legend, on the line of the epoch axis' title
        y = plot.bottom() + 6 + fm.ascent()
        x = plot.left()
        for color, _attr, style, label in reversed(lines):
            p.setPen(QPen(color, 2, style))
            p.drawLine(
                QPointF(x, y - fm.ascent() / 2 + 2), QPointF(x + 22, y - fm.ascent() / 2 + 2)
            )
            p.setPen(text)
            p.drawText(QPointF(x + 26, y), label)
            x += 26 + fm.horizontalAdvance(label) + 16
        p.end()

    def sizeHint(self) -> QSize:
        return QSize(340, 200)
