"""The photo beside the table follows the table as the user arranged it.

- "3 of 21" counts in the table's order (sorted, filtered), as Next and Previous step.
- A filter that hides the photo shown moves to the first row it keeps; a filter that keeps no
  row says so where the table was, and the photo and its bars give way to that sentence.
- The window's shortcuts that a text box would swallow (Ctrl+E is "end of line" in a Qt line
  edit on Linux) still reach the window while the filter box has the focus.

The table itself (gui/results_panel.py) knows nothing of this; it is built on the first drop of many
images, and this module takes it from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QLabel

if TYPE_CHECKING:
    from PySide6.QtGui import QAction

    from gui.results_area import ResultsArea
    from gui.results_panel import ResultsPanel
    from gui.session import Session


class TableFollower(QObject):
    orderChanged = Signal()  # the current image's place in the table changed: redraw "3 of 21"
    moveTo = Signal(int)  # the filter hid the image shown: show this item instead
    nothingShown = Signal(str)  # the filter keeps no row: what to say instead of a photo

    def __init__(self, area: ResultsArea, session: Session, shortcuts: list[QAction]) -> None:
        super().__init__(area)
        self.area, self.session, self.shortcuts = area, session, shortcuts
        self.panel: ResultsPanel | None = None
        self.empty: QLabel | None = None
        self._said: tuple[int, str] = (-1, "")
        self._emptied = False  # the filter left no row, and the photo gave way
        area.built.connect(self._on_built)

    def position(self, index: int) -> str:
        """ "3 of 21": where item `index` is in the table's order; "" with one image or none."""
        total = len(self.session.items)
        if total < 2:
            return ""
        row = self._row(index)
        if row is None:
            return f"{index + 1} of {total}"
        return f"{row + 1} of {self.panel.proxy.rowCount()}" if row >= 0 else ""

    def _row(self, index: int) -> int | None:
        """Item `index`'s row in the table (-1: filtered out); None when there is no table."""
        if self.panel is None or not self.area.shown():
            return None
        proxy = self.panel.proxy
        return proxy.mapFromSource(self.panel.model.index(index, 0)).row()

    def _on_built(self, panel: ResultsPanel) -> None:
        self.panel = panel
        panel.search.installEventFilter(self)
        self.empty = QLabel()
        self.empty.setObjectName("emptyFilter")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setVisible(False)
        layout = panel.layout()
        layout.insertWidget(layout.indexOf(panel.table), self.empty, 1)
        proxy = panel.proxy
        for signal in (proxy.layoutChanged, proxy.rowsInserted, proxy.rowsRemoved):
            signal.connect(self._changed)
        proxy.modelReset.connect(self._changed)
        panel.search.textChanged.connect(self._changed)  # "zz", "zzz": the sentence follows

    def _changed(self, *args: object) -> None:
        panel, empty = self.panel, self.empty
        if panel is None or empty is None:
            return
        kept = panel.proxy.rowCount()
        nothing = kept == 0 and panel.model.rowCount() > 0
        if nothing:
            text = panel.search.text().strip()
            empty.setText(
                f"No image’s top-1 label contains “{text}”. Clear the filter to see all "
                f"{panel.model.rowCount()} images."
                if text
                else "No image matches the filter."
            )
        empty.setVisible(nothing)
        panel.table.setVisible(not nothing)
        # Called for every result of a sorted run: only O(1) work unless something is to change.
        current = self.session.current_item.index
        if nothing and not self._emptied:
            self._emptied = True
            self.nothingShown.emit("No image matches the filter.")
        elif kept and (self._emptied or self._row(current) == -1):
            self._emptied = False
            self.moveTo.emit(panel.proxy.mapToSource(panel.proxy.index(0, 0)).row())
        said = (self.session.current_item.index, self.position(self.session.current_item.index))
        if said != self._said:
            self._said = said
            self.orderChanged.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Let the window's shortcuts past the filter box, which would take them as editing."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            pressed = QKeySequence(event.keyCombination())
            if any(a.isEnabled() and a.shortcut() == pressed for a in self.shortcuts):
                return True  # not accepted here: the shortcut goes to its action
        return False
