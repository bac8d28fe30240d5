"""Help > User Guide (F1) and Help > Keyboard Shortcuts: read from files and actions that ship
with the app, so help works offline and in the frozen bundle alike."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gui.resources import APP_NAME, resource_path

GUIDE = "guide.md"


def _dialog(parent: QWidget, title: str, body: QWidget, size: tuple[int, int]) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(body, 1)
    layout.addWidget(buttons)
    dialog.resize(*size)
    return dialog


def guide_dialog(parent: QWidget) -> QDialog:
    """The user guide (resources/guide.md), opened beside the window."""
    browser = QTextBrowser()
    browser.setObjectName("guide")
    browser.setOpenExternalLinks(True)
    path = resource_path(GUIDE)
    try:
        browser.setMarkdown(path.read_text(encoding="utf-8"))
    except OSError:
        browser.setPlainText(f"The user guide is missing from this installation ({path}).")
    dialog = _dialog(parent, "User Guide", browser, (640, 560))
    dialog.open()
    return dialog


def shortcuts_dialog(parent: QWidget, rows: list[tuple[str, str]]) -> QDialog:
    """Every menu command that has a key, with its key."""
    table = QTableWidget(len(rows), 2)
    table.setObjectName("shortcuts")
    table.setHorizontalHeaderLabels(["Command", "Keys"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setShowGrid(False)
    for row, (what, keys) in enumerate(rows):
        table.setItem(row, 0, QTableWidgetItem(what))
        table.setItem(row, 1, QTableWidgetItem(keys))
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    dialog = _dialog(parent, "Keyboard Shortcuts", table, (420, 460))
    dialog.open()
    return dialog


def show_help(parent: QWidget, which: str, shortcuts: list[tuple[str, str]]) -> QDialog | None:
    """ "guide", "shortcuts" or "about": the dialog opened (None for About, which runs modal)."""
    if which == "guide":
        return guide_dialog(parent)
    if which == "shortcuts":
        return shortcuts_dialog(parent, shortcuts)
    from gui.dialogs import about

    about(parent, APP_NAME)
    return None
