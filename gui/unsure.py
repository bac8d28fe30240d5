"""The unsure threshold in the window: a control above the table, the marked rows, and the
share of unsure photos in the status bar once a folder is done.

`Threshold` holds the value the table, Write Keywords… and Sort Into Folders… share; it is
remembered between runs. What "unsure" means is `core.library.unsure`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from core import percent, unsure_share

if TYPE_CHECKING:
    from gui.session import Session

UNSURE_COLOUR = QColor("#c77c02")


def unsure_mark(role: int, threshold: float) -> Any:
    """How an unsure row's confidence cell looks: amber, a question mark, a tooltip."""
    if role == Qt.ItemDataRole.ForegroundRole:
        return UNSURE_COLOUR
    if role == Qt.ItemDataRole.DecorationRole:
        from PySide6.QtWidgets import QApplication, QStyle

        icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxQuestion)
        return icon.pixmap(16, 16)  # a mark beside the number, not a thumbnail's size
    if role == Qt.ItemDataRole.ToolTipRole:
        return f"Unsure: the top-1 is under {percent(threshold)}"
    if role == Qt.ItemDataRole.TextAlignmentRole:
        return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return None


class Threshold(QObject):
    """The confidence under which a top-1 is unsure (0-1)."""

    changed = Signal(float)

    def __init__(self, value: float, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.value = value

    def set(self, value: float) -> None:
        if value != self.value:
            self.value = value
            self.changed.emit(value)


class UnsureControl(QWidget):
    """ "Unsure under [50 %]" and "Only unsure", for the table's filter bar."""

    onlyUnsure = Signal(bool)

    def __init__(self, threshold: Threshold, parent: QWidget | None = None) -> None:
        # made when the table first shows: the window's first paint does not wait for these
        from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QSpinBox

        super().__init__(parent)
        self.threshold = threshold
        self.spin = QSpinBox()
        self.spin.setObjectName("unsureThreshold")
        self.spin.setRange(0, 100)
        self.spin.setSuffix(" %")
        self.spin.setPrefix("Unsure under ")
        self.spin.setValue(round(threshold.value * 100))
        self.spin.setToolTip(
            "A top-1 under this confidence is unsure: marked here, left alone by Write Keywords "
            "and sorted into unsure/ by Sort Into Folders"
        )
        self.spin.valueChanged.connect(self._spun)
        threshold.changed.connect(lambda v: self.spin.setValue(round(v * 100)))
        self.only = QCheckBox("Only unsure")
        self.only.setObjectName("onlyUnsure")
        self.only.setToolTip("Show only the unsure rows")
        self.only.toggled.connect(self.onlyUnsure)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.spin)
        layout.addWidget(self.only)

    def _spun(self, percent_value: int) -> None:
        # the box shows whole percents: a finer threshold set elsewhere stays as it is
        if round(self.threshold.value * 100) != percent_value:
            self.threshold.set(percent_value / 100)


class UnsureView(QObject):
    """Keeps the table's marks and filter, and the status bar's share, in step with the
    threshold."""

    def __init__(self, session: Session, threshold: Threshold, status: Any) -> None:
        super().__init__(session)
        self.session, self.threshold, self.status = session, threshold, status
        self.panel: Any = None  # gui.results_panel.ResultsPanel (which imports this module)
        self.control: UnsureControl | None = None
        threshold.changed.connect(self._apply)
        session.run.runFinished.connect(self.show_share)

    def attach(self, panel: Any) -> None:
        """Put the control into `panel`'s bar (once, when the table is first built)."""
        self.panel = panel
        self.control = UnsureControl(self.threshold, panel)
        self.control.onlyUnsure.connect(self._only_unsure)
        panel.bar.insertWidget(2, self.control)
        self._apply(self.threshold.value)

    def share_text(self) -> str:
        results = [i.result for i in self.session.items if i.result is not None]
        share = unsure_share(results, self.threshold.value)
        return f"Unsure: {share.unsure} of {share.classified} ({share.fraction:.0%})"

    def show_share(self) -> None:
        if len(self.session.items) > 1:
            self.status.set_share(self.share_text())

    def _apply(self, value: float) -> None:
        if self.panel is not None:
            self.panel.model.set_marks(value, self.panel.model.corrections)
            self.panel.proxy.invalidate()
        self.show_share()

    def _only_unsure(self, on: bool) -> None:
        if self.panel is not None:
            self.panel.proxy.set_only_unsure(on)
