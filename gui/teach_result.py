"""The Teach dialog's result panel: the accuracy curve while a training runs, then the held-out
accuracy, the confusion matrix and the held-out images it got wrong.

The panel is hidden while there is nothing to show, so that before training the classes table
has the room (issue 22: an empty area filled the dialog's lower half)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import elide_middle, printable
from gui.accuracy_curve import AccuracyCurve
from gui.confusion_model import ConfusionView
from gui.plain_text import NAME_LIMIT, tip
from gui.teach_model import accuracy_text

if TYPE_CHECKING:
    from gui.teach_messages import Taught

WRONG_ICON = 64  # the mistakes' thumbnails in the list
WRONG_VIEW = 160  # the one clicked, shown this large


class ResultPanel(QWidget):
    """Presents a training's curve and result; says which mistake the user looks at."""

    wrongChosen = Signal(int)  # row of the held-out image clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.taught: Taught | None = None
        self.running = False
        result = QGridLayout(self)
        result.setContentsMargins(0, 0, 0, 0)
        self.accuracy_label = QLabel()
        font = self.accuracy_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.accuracy_label.setFont(font)
        self.accuracy_label.setWordWrap(True)  # the unsure-threshold line is long
        result.addWidget(self.accuracy_label, 0, 0, 1, 2)
        self.curve = AccuracyCurve()
        result.addWidget(self.curve, 1, 0)
        self.confusion_table = ConfusionView()
        confusion_box = QVBoxLayout()
        self.confusion_title = QLabel("Confusion matrix (rows: true class, columns: predicted)")
        confusion_box.addWidget(self.confusion_title)
        confusion_box.addWidget(self.confusion_table)
        confusion_box.addStretch(1)  # the matrix is as tall as its rows; the rest stays free
        result.addLayout(confusion_box, 1, 1)
        self.wrong_title = QLabel("Held-out images it got wrong (click one to see it):")
        result.addWidget(self.wrong_title, 2, 0, 1, 2)
        self.wrong_list = QListWidget()
        self.wrong_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.wrong_list.setIconSize(QSize(WRONG_ICON, WRONG_ICON))
        self.wrong_list.setMaximumHeight(110)
        self.wrong_list.setFlow(QListWidget.Flow.LeftToRight)
        self.wrong_list.setWrapping(False)
        self.wrong_list.currentRowChanged.connect(self.show_wrong)
        result.addWidget(self.wrong_list, 3, 0)
        self.wrong_view = QLabel()
        self.wrong_view.setFrameShape(QFrame.Shape.StyledPanel)
        self.wrong_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.wrong_view.setWordWrap(True)
        self.wrong_view.setMinimumHeight(110)
        result.addWidget(self.wrong_view, 3, 1)
        result.setColumnStretch(0, 1)
        result.setColumnStretch(1, 1)
        self._update_visible()

    def set_running(self, running: bool) -> None:
        """While a training runs its curve shows, with or without a result."""
        self.running = running
        self._update_visible()

    def show_taught(self, taught: Taught | None) -> None:
        """Show a finished training's accuracy, confusion matrix and mistakes; None: clear."""
        self.taught = taught
        self.wrong_list.clear()
        self.wrong_view.clear()
        self.wrong_view.setToolTip("")
        if taught is None:
            self.accuracy_label.clear()
            self.confusion_table.set_matrix((), ())
        else:
            r = taught.result
            self.accuracy_label.setText(accuracy_text(r))
            self.curve.set_best(r.best_epoch)
            self.confusion_table.set_matrix(r.class_names, r.confusion)
            for m, image in taught.wrong:
                name = elide_middle(printable(Path(m.path).name), NAME_LIMIT)
                item = QListWidgetItem(QIcon(QPixmap.fromImage(image)), name)
                item.setToolTip(tip(f"{m.true_label}, predicted {m.predicted_label}"))
                self.wrong_list.addItem(item)
        self._update_visible()

    def show_wrong(self, row: int) -> None:
        """Show one misclassified held-out image, larger, with what it was taken for."""
        if self.taught is None or not 0 <= row < len(self.taught.wrong):
            return
        m, image = self.taught.wrong[row]
        pixmap = QPixmap.fromImage(image).scaled(
            WRONG_VIEW,
            WRONG_VIEW,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.wrong_view.setPixmap(pixmap)
        self.wrong_view.setToolTip(
            tip(
                f"{m.path}\nis {m.true_label}, predicted {m.predicted_label} "
                f"({m.probability * 100:.0f}%)"
            )
        )
        self.wrongChosen.emit(row)

    def confusion(self) -> list[list[int]]:
        """The confusion matrix as shown."""
        return [list(row) for row in self.confusion_table.matrix()]

    def _update_visible(self) -> None:
        shown = self.taught is not None
        for widget in (self.accuracy_label, self.confusion_table, self.confusion_title):
            widget.setVisible(shown)
        has_wrong = bool(self.taught and self.taught.wrong)
        for widget in (self.wrong_title, self.wrong_list, self.wrong_view):
            widget.setVisible(has_wrong)
        self.setVisible(shown or self.running)
