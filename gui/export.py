"""File > Export Results…: the results the table shows, in its order, as CSV or JSON lines.

The records are those of `resnet-classify --format json|csv`; `core.export.write_results`
writes the file atomically. The file dialog and the writer are imported when first used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QWidget

    from core import ClassificationResult
    from gui.results_area import ResultsArea
    from gui.session import Session
    from gui.settings import Settings

FILTERS = ("CSV (*.csv)", "JSON Lines (*.jsonl *.json)")


class Exporter(QObject):
    said = Signal(str)  # a line for the status bar
    failed = Signal(str, str)  # title, message: the file could not be written

    def __init__(
        self,
        window: QWidget,
        session: Session,
        table: ResultsArea,
        settings: Settings,
        action: QAction,
    ) -> None:
        super().__init__(window)
        self.window, self.session, self.table = window, session, table
        self.settings, self.action = settings, action
        action.triggered.connect(self.choose)
        session.run.itemClassified.connect(self.update)

    def update(self, *_: object) -> None:
        """Export is offered once there is a result to write."""
        self.action.setEnabled(self.session.items.has_results())

    def rows(self) -> list[ClassificationResult]:
        """What Export writes: the results the table shows, in its order (or the one image)."""
        return self.table.shown_results()

    def choose(self) -> None:
        path = save_dialog(self.window, self.settings.last_folder)
        if path and (count := self.write(path)):
            self.settings.last_folder = str(Path(path).parent)
            self.confirmation = confirm(self.window, path, count)

    confirmation = None  # the last "Exported …" box, for tests and observers

    def write(self, path: str) -> int:
        """Write the shown results to `path`: JSON lines for .json/.jsonl, else CSV.

        Returns how many images were written; a file that cannot be written is reported
        (`failed`), not raised.
        """
        from core import ExportError, write_results
        from core import escape_undecodable as printable

        try:
            count = write_results(path, self.rows())  # atomic: a failure keeps the old file
        except ExportError as exc:
            self.said.emit(exc.message)
            self.failed.emit("The results could not be saved", exc.message)
            return 0
        self.said.emit(f"Exported {count} results to {printable(Path(path).name)}.")
        return count


def save_dialog(parent: QWidget, folder: str) -> str:
    """Where to export the results ("" if cancelled), with the extension of the chosen type."""
    from PySide6.QtWidgets import QFileDialog

    start = str(Path(folder) / "results.csv")
    path, chosen = QFileDialog.getSaveFileName(parent, "Export Results", start, ";;".join(FILTERS))
    return with_suffix(path, chosen) if path else ""


def with_suffix(path: str, chosen_filter: str) -> str:
    """`path` with the extension of the filter chosen in the save dialog, if it has none."""
    if Path(path).suffix:
        return path
    return path + (".jsonl" if chosen_filter == FILTERS[1] else ".csv")


def confirm(parent: QWidget, path: str, count: int) -> object:
    """ "Exported 21 results to results.csv", with a button that opens its folder."""
    from PySide6.QtWidgets import QMessageBox

    from core import escape_undecodable as printable
    from gui.dialogs import show_folder

    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle("Results exported")
    results = "result" if count == 1 else "results"
    box.setText(f"Exported {count} {results} to {printable(Path(path).name)}.")
    box.setInformativeText(f"In {printable(str(Path(path).parent))}")
    folder = box.addButton("Show in &Folder", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Ok)
    folder.clicked.connect(lambda: show_folder(str(Path(path).parent)))
    box.open()
    return box
