"""Text from outside shown as text: never as Qt rich text, never at any length.

Qt labels, message boxes and tooltips guess "rich text" when a text looks like HTML, and Qt's
rich text loads `<img src=…>` from local files on the UI thread: a class name of
`<img src=/dev/zero>` read /dev/zero until the window aborted. Every text that comes from a file,
a folder, a checkpoint, a labels file, a hand-over or an error goes through here: labels are set
to `Qt.PlainText`, what is shown is made printable and elided, and the full text (bounded) goes
to a tooltip that is escaped HTML.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox

from core import elide_middle, printable

NAME_LIMIT = 120  # characters of a name shown in a label
MESSAGE_LIMIT = 1200  # characters of a sentence (a notice, an error) shown in a label
TIP_LIMIT = 2000  # characters in a tooltip
# A run this long with no place to break (a space, "/" or "-") gets one, an invisible space.
_RUN = re.compile(r"[^\s/-]{60}")


def plain(*widgets: QLabel | QMessageBox) -> None:
    """Show what these labels or message boxes are given as plain text, whatever it looks like."""
    for widget in widgets:
        widget.setTextFormat(Qt.TextFormat.PlainText)


def shown(text: str, limit: int = NAME_LIMIT, keep_newlines: bool = False) -> str:
    """`text` as a label shows it: printable, elided, with places to wrap in very long words."""
    return _wrappable(elide_middle(printable(text, keep_newlines), limit))


def tip(text: str, limit: int = TIP_LIMIT) -> str:
    """A tooltip holding `text` as text (escaped HTML: tooltips guess rich text too)."""
    if not text:
        return ""
    body = html.escape(shown(text, limit, keep_newlines=True), quote=False)
    return "<qt>" + body.replace("\n", "<br>") + "</qt>"


def set_text(
    label: QLabel, text: str, limit: int = NAME_LIMIT, keep_newlines: bool = False
) -> None:
    """Show `text` on a plain-text label; when it had to be shortened, the tooltip has it all."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    short = shown(text, limit, keep_newlines)
    label.setText(short)
    label.setToolTip(tip(text) if len(text) > limit else "")


def _wrappable(text: str) -> str:
    return _RUN.sub(lambda m: m.group() + "\u200b", text)


def escaped_html(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` for a rich-text label of ours: printable, elided and HTML-escaped."""
    return html.escape(elide_middle(printable(text, keep_newlines=True), limit), quote=False)


def bold_name(name: str) -> str:
    """A folder or file name in bold, as rich text that cannot hold markup of its own."""
    return f"<b>{escaped_html(name, NAME_LIMIT)}</b>"
