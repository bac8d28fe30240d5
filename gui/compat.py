"""Known-bad Qt for Python builds, detected by behaviour rather than by version number.

PySide6 6.12.0 drops a reference to `True` on every signal emission and one to `None` on every
`QTimer.singleShot` call. On Python 3.11 (this machine's, and the frozen app's) the count of
`True` reaches zero after some 20,000 classified images and the interpreter aborts. Python 3.12
made `True`/`None` immortal, which hides it. pyproject.toml excludes 6.12.0; this probe catches
the bug in any build that slipped in anyway (another environment, a future release).
"""

from __future__ import annotations

import sys

PROBE_EMITS = 16

ADVICE = (
    "This copy of Qt for Python (PySide6 {version}) loses a reference on every signal it sends, "
    "and the app would crash after some thousands of images. Install a supported version: "
    "pip install 'PySide6-Essentials>=6.6,!=6.12.0,<7'"
)


def signal_refcount_leak() -> bool:
    """Whether emitting a signal here loses references to `True` (needs no QApplication)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        fired = Signal(int)

    probe = _Probe()
    seen: list[int] = []
    probe.fired.connect(seen.append)
    before = sys.getrefcount(True)
    for i in range(PROBE_EMITS):
        probe.fired.emit(i)
    lost = before - sys.getrefcount(True)
    probe.fired.disconnect()
    return lost >= PROBE_EMITS // 2


def leak_advice() -> str:
    """The sentence shown to the user when `signal_refcount_leak()` is true."""
    import PySide6

    return ADVICE.format(version=PySide6.__version__)
