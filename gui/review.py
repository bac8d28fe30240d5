"""Review the least sure first: the unsure rows, lowest confidence first, one at a time, with
one key per action. The window shows each photo as it comes; the dialog says what the model
thinks and what each key does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from core import is_unsure
from gui.widgets import percent_text

if TYPE_CHECKING:
    from gui.items import Item

KEYS = (
    "Enter: the top-1 is right · 1-5: that prediction is right · C: another class… · "
    "Space: skip · Backspace: back · Esc: stop"
)


def review_order(items: Sequence[Item], threshold: float) -> list[int]:
    """The unsure items, least sure first (the order they came in breaks ties)."""
    unsure = [
        i
        for i, item in enumerate(items)
        if item.result is not None and is_unsure(item.result, threshold)
    ]
    return sorted(unsure, key=lambda i: (items[i].result.top.probability, i))


class ReviewDialog(QDialog):
    """Walks `order`; `shown(index)` asks the window to show an item, `decided(index, label)`
    records an answer."""

    shown = Signal(int)
    decided = Signal(int, str)
    correctWanted = Signal(int)  # C: the window asks for another class
    teachWanted = Signal()

    def __init__(
        self,
        parent: QWidget,
        items: Sequence[Item],
        order: list[int],
        given: Callable[[str], str | None],
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Review Least Sure")
        self.setObjectName("reviewDialog")
        self.items, self.order, self.given = items, order, given
        self.position = 0
        self.title = QLabel()
        self.title.setObjectName("reviewTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.predictions = QLabel()
        self.predictions.setObjectName("reviewPredictions")
        self.predictions.setTextFormat(Qt.TextFormat.PlainText)
        keys = QLabel(KEYS)
        keys.setWordWrap(True)
        keys.setStyleSheet("color: palette(placeholder-text);")
        self.teach_button = QPushButton("Teach from Corrections")
        self.teach_button.setToolTip("Retrain on the answers given, then re-classify the folder")
        self.teach_button.clicked.connect(self.teachWanted)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.predictions)
        layout.addWidget(keys)
        layout.addWidget(self.teach_button)
        self.teach_button.setAutoDefault(False)  # Enter answers; it never teaches
        self.teach_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.keys: dict[int, Callable[[], None]] = {
            Qt.Key.Key_Return: self.accept_top,
            Qt.Key.Key_Enter: self.accept_top,
            Qt.Key.Key_Space: self.skip,
            Qt.Key.Key_Backspace: self.back,
            Qt.Key.Key_C: lambda: self.correctWanted.emit(self.current()),
        }
        for n in range(1, 6):
            self.keys[Qt.Key.Key_0 + n] = lambda n=n: self.pick(n)
        self.resize(440, 220)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """One key per action (KEYS); Esc closes, as in any dialog."""
        action = self.keys.get(event.key())
        if action is not None and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            action()
            return
        super().keyPressEvent(event)

    def current(self) -> int:
        return self.order[self.position] if self.position < len(self.order) else -1

    def set_given(self, given: Callable[[str], str | None]) -> None:
        """Where the answers already given are looked up (they change as the user answers)."""
        self.given = given

    def start(self) -> None:
        self.show_current()

    def show_current(self) -> None:
        if not self.order:
            self.title.setText("No photo is unsure: raise the threshold to review more.")
            self.predictions.setText("")
            return
        if self.position >= len(self.order):
            self.title.setText(f"Done: {len(self.order)} photos reviewed.")
            self.predictions.setText("Teach from Corrections retrains on your answers.")
            return
        index = self.current()
        item = self.items[index]
        self.shown.emit(index)
        given = self.given(item.name)
        mark = f"  (you said: {given})" if given else ""
        self.title.setText(
            f"{self.position + 1} of {len(self.order)}: {Path(item.name).name}{mark}"
        )
        self.predictions.setText(
            "\n".join(
                f"{p.rank}. {p.label}  {percent_text(p.probability)}"
                for p in item.result.predictions
            )
        )

    def accept_top(self) -> None:
        index = self.current()
        if index >= 0:
            self.decided.emit(index, self.items[index].result.top.label)
            self.skip()

    def pick(self, rank: int) -> None:
        index = self.current()
        if index >= 0 and rank <= len(self.items[index].result.predictions):
            self.decided.emit(index, self.items[index].result.predictions[rank - 1].label)
            self.skip()

    def answered(self, index: int) -> None:
        """A class typed for the current photo (after C): on to the next."""
        if index == self.current():
            self.skip()

    def skip(self) -> None:
        if self.position < len(self.order):
            self.position += 1
        self.show_current()

    def back(self) -> None:
        if self.position > 0:
            self.position -= 1
        self.show_current()
