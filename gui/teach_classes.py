"""The Teach dialog's folder panel: which folder, its classes with counts and thumbnails, and
what may make a model taught from it less reliable."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import elide_middle, printable
from gui.plain_text import MESSAGE_LIMIT, NAME_LIMIT, bold_name, escaped_html, plain, tip
from gui.teach_messages import Scan
from gui.teach_model import FolderLine
from gui.teach_worker import THUMB_SIDE, THUMBS_PER_CLASS

WARNING_LINES = 5  # the folder's warnings show in this many lines, and scroll
UNREADABLE_NAMED = 8  # files that cannot be read, named one by one; the rest counted


class ClassesPanel(QWidget):
    """The folder line and its Choose Folder… button, the classes table and the warnings."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)

        row = QHBoxLayout()
        self.folder_label = QLabel(
            "Drop a folder here, or choose one: it must hold one sub-folder of images per class."
        )
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextFormat(Qt.TextFormat.RichText)  # our bold; names escaped
        self.choose_button = QPushButton("Choose Folder…")
        row.addWidget(self.folder_label, 1)
        row.addWidget(self.choose_button)
        root.addLayout(row)

        self.classes_table = QTableWidget(0, 3)
        self.classes_table.setHorizontalHeaderLabels(["Class", "Images", "Examples"])
        self.classes_table.verticalHeader().setVisible(False)
        self.classes_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.classes_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.classes_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.classes_table.verticalHeader().setDefaultSectionSize(THUMB_SIDE + 8)
        self.classes_table.setIconSize(QSize(THUMBS_PER_CLASS * (THUMB_SIDE + 4), THUMB_SIDE))
        root.addWidget(self.classes_table, 1)

        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b35c00;")
        plain(self.warning_label)
        # A warning per class can make hundreds of lines: they scroll in a few lines' height.
        self.warnings = QScrollArea()
        self.warnings.setWidget(self.warning_label)
        self.warnings.setWidgetResizable(True)
        self.warnings.setFrameShape(QFrame.Shape.NoFrame)
        self.warnings.setMaximumHeight(self.fontMetrics().lineSpacing() * WARNING_LINES + 8)
        self.warnings.setVisible(False)
        root.addWidget(self.warnings)

    def show_folder(self, line: FolderLine) -> None:
        """The folder's name in bold and what is known of it, or why it cannot be used."""
        if line.name:
            self.folder_label.setText(f"{bold_name(line.name)}: {escaped_html(line.text)}")
        else:
            self.folder_label.setText(escaped_html(line.text))

    def show_classes(self, scan: Scan | None) -> None:
        """A row per class of `scan`, and its warnings; None: no class to list."""
        classes = scan.classes if scan is not None else ()
        self.classes_table.setRowCount(len(classes))
        for row, found in enumerate(classes):
            name = QTableWidgetItem(elide_middle(printable(found.name), NAME_LIMIT))
            name.setToolTip(tip(found.name))
            self.classes_table.setItem(row, 0, name)
            count = QTableWidgetItem(str(found.count))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.classes_table.setItem(row, 1, count)
            strip = QTableWidgetItem()
            strip.setIcon(QIcon(QPixmap.fromImage(found.strip)))
            self.classes_table.setItem(row, 2, strip)
        notes = scan_notes(scan) if scan is not None else []
        self.warning_label.setText("\n".join(notes))
        self.warnings.setVisible(bool(notes))

    def class_rows(self) -> list[tuple[str, int, bool]]:
        """(name, image count, has thumbnails) per listed class, as shown."""
        t = self.classes_table
        return [
            (t.item(r, 0).text(), int(t.item(r, 1).text()), not t.item(r, 2).icon().isNull())
            for r in range(t.rowCount())
        ]


def scan_notes(scan: Scan) -> list[str]:
    """The folder's warnings, a line each, and the files left out because they cannot be read."""
    notes = [f"⚠ {elide_middle(printable(w), MESSAGE_LIMIT)}" for w in scan.warnings]
    if scan.unreadable:
        listed = scan.unreadable[:UNREADABLE_NAMED]
        more = len(scan.unreadable) - len(listed)
        notes.append(
            "⚠ Left out, cannot be read: "
            + "; ".join(elide_middle(printable(u), NAME_LIMIT) for u in listed)
            + (f"; and {more} more" if more else "")
        )
    return notes
