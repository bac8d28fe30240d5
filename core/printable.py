"""Names and labels made safe to show: control characters written as escapes, length bounded.

File names, folder names, class names and error sentences come from files a user was given.
They may hold terminal escapes (ESC[2J, OSC 52 writing the clipboard), right-to-left overrides
that turn text around, bytes that are not UTF-8 (kept by Python as lone surrogates) or 100,000
characters. `printable` writes each such character as a visible escape (`\\x1b`, `\\u202e`, and
`\\xe9` for the undecodable byte 0xE9), so a terminal or a widget shows the name and obeys none
of it; `elide_middle` keeps the start and the end of a long text.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, lone surrogates (undecodable bytes), bidirectional controls and the
# Unicode line and paragraph separators.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_UNSAFE_KEEP_LINES = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# The name a result carries for encoded bytes (a pasted image), which have no path. Here, with
# the other names shown, so that the window can name a paste without importing the results.
PASTED_IMAGE = "pasted image"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape: the byte it stands for
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, keep_newlines: bool = False) -> str:
    """`text` with every control, bidi-override and undecodable character written as an escape.

    `keep_newlines` leaves line breaks alone, for messages of several lines.
    """
    pattern = _UNSAFE_KEEP_LINES if keep_newlines else _UNSAFE
    return pattern.sub(_escape, text)


def elide_middle(text: str, limit: int = 60) -> str:
    """The start and end of `text` around an ellipsis, at most `limit` characters."""
    if len(text) <= limit:
        return text
    return text[: limit // 2 - 1] + "…" + text[len(text) - limit // 2 :]


def summary(sentences: list[str], shown_at_most: int = 3) -> list[str]:
    """The first few sentences of a long list, and one saying how many more there are."""
    if len(sentences) <= shown_at_most:
        return sentences
    rest = len(sentences) - shown_at_most
    return [*sentences[:shown_at_most], f"… and {rest} more like these."]


def percent(value: float) -> str:
    """0.6 as "60%", 0.125 as "12.5%": a threshold as a person reads it."""
    return f"{value * 100:.4g}%"
