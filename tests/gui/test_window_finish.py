"""Issue 22: a window that looks finished and keeps no stale state, as a user sees it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget, QTextBrowser


def menu(window, title: str) -> list[str]:
    """The entries of the menu `title`, as they read (separators left out)."""
    found = next(a.menu() for a in window.menuBar().actions() if a.text() == title)
    return [a.text().replace("&", "") for a in found.actions() if not a.isSeparator()]


def test_menus_are_where_people_look_for_them(qtbot, make_window):
    window = make_window()
    assert menu(window, "&Model") == [
        "Load Weights…",
        "Load Labels…",
        "Use ImageNet Weights",
        "Teach New Classes…",
    ]
    assert "Load Weights…" not in menu(window, "&File")
    assert menu(window, "&Help") == ["User Guide", "Keyboard Shortcuts", "Devices…", "About"]


def test_f1_opens_the_user_guide_and_the_shortcuts_list_every_key(qtbot, make_window):
    window = make_window()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: window.help_dialog is not None and window.help_dialog.isVisible())
    guide = window.help_dialog.findChild(QTextBrowser).toPlainText()
    assert "resnet50-11ad3fa6.pth" in guide and "Teach New Classes" in guide
    window.help_dialog.close()

    window.menus.shortcuts_action.trigger()
    table = window.help_dialog.findChild(QTableWidget)
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["Open Images"] == "Ctrl+O" and rows["Export Results"] == "Ctrl+E"
    assert rows["User Guide"] == "F1" and rows["Load Weights"] == "Ctrl+L"
