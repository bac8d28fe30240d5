"""The prediction panel beside the photo: its name, the top-5 bars, a line of facts, and the
heat-map button with the line under it.

It shows what it is given and emits `picked(rank)` when a bar is clicked; the heat-map button
runs whichever action the window gives it (`set_heat_action`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QToolButton, QVBoxLayout, QWidget

from gui.plain_text import MESSAGE_LIMIT, plain, set_text, shown, tip
from gui.widgets import PredictionBars, percent_text

if TYPE_CHECKING:
    from PySide6.QtGui import QAction

    from core import ClassificationResult

HEAT_TIP = (
    "Grad-CAM: red where the evidence for the class is strongest, blue where there is "
    "little. The dimmed border lies outside the centre crop the model sees."
)


class PredictionPanel(QWidget):
    """Title, error line, prediction bars, meta line, heat-map button and heat-map line."""

    picked = Signal(int)  # rank of the clicked bar (0 = the top prediction)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(260)
        self.title = QLabel()
        self.title.setObjectName("title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bars = PredictionBars()
        self.bars.picked.connect(self.picked)
        self.heat_button = QToolButton()
        self.heat_button.setObjectName("heatButton")
        self.heat_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.heat_label = QLabel()
        self.heat_label.setObjectName("heatLabel")
        self.heat_label.setWordWrap(True)
        self.heat_label.setVisible(False)
        self.heat_label.setToolTip(HEAT_TIP)
        self.meta = QLabel()
        self.meta.setObjectName("meta")
        self.meta.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setVisible(False)

        plain(self.title, self.heat_label, self.meta, self.error)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self.title)
        layout.addWidget(self.error)
        layout.addWidget(self.bars)
        layout.addWidget(self.meta)
        layout.addSpacing(4)
        layout.addWidget(self.heat_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.heat_label)
        layout.addStretch(1)

    def set_heat_action(self, action: QAction) -> None:
        self.heat_button.setDefaultAction(action)

    def show_placeholder(
        self,
        title: str = "No image yet",
        text: str = "The top-5 predictions for the image you drop appear here.",
    ) -> None:
        self.title.setText(title)
        self.title.setToolTip("")
        self.bars.clear()
        self.error.setVisible(False)
        self.heat_label.setVisible(False)
        self.meta.setText(text)

    def show_name(self, name: str) -> None:
        set_text(self.title, Path(name).name, 60)
        self.title.setToolTip(tip(name))

    def show_waiting(self, text: str) -> None:
        """No prediction to show (yet): empty bars and `text` saying why."""
        self.bars.clear()
        self.error.setVisible(False)
        self.meta.setText(shown(text, MESSAGE_LIMIT, keep_newlines=True))

    def show_result(self, result: ClassificationResult, meta: str, selected: int | None) -> None:
        """The bars of a classified image (with `selected` highlighted), or its error."""
        if result.ok:
            self.error.setVisible(False)
            self.bars.set_predictions(result.predictions)
            self.bars.set_selected(selected)
            self.meta.setText(shown(meta, MESSAGE_LIMIT))
        else:
            self.bars.clear()
            set_text(self.error, f"⚠ {result.error}", MESSAGE_LIMIT, keep_newlines=True)
            self.error.setVisible(True)
            self.meta.setText("")

    def set_heat_text(self, text: str) -> None:
        self.heat_label.setText(shown(text, MESSAGE_LIMIT))
        self.heat_label.setVisible(bool(text))


def meta_text(result: ClassificationResult, device: str, source: str | None, position: str) -> str:
    """ "2 of 9 · CPU · 41 ms · ImageNet": where, how fast and with what it was classified."""
    seconds = result.seconds
    parts = [device, f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"]
    if source is not None:
        parts.append(source)
    if position:
        parts.insert(0, position)
    # The line wraps only between its parts: never "2157 / ms" or "3 of / 21".
    return " · ".join(part.replace(" ", "\u00a0") for part in parts)


def heat_text(label: str, probability: float) -> str:
    return f"Where it found “{label}” ({percent_text(probability)})"
