"""Import the engine without PySide6's per-import tax.

Importing PySide6 replaces `builtins.__import__` with a hook (for its opt-in `__feature__`
syntax) that runs Python code after every import in the process; it keeps Python's own
function as `builtins.__orig_import__`. torch and torchvision import thousands of modules:
measured here, the hook adds about 0.3 s to their 2 s import. The app uses no `__feature__`,
so the engine's first import runs with Python's own `__import__`.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()


@contextmanager
def plain_imports() -> Iterator[None]:
    """Run the enclosed imports with Python's own `__import__`, then put PySide6's back."""
    with _lock:
        current = builtins.__import__
        builtins.__import__ = getattr(builtins, "__orig_import__", current)
        try:
            yield
        finally:
            builtins.__import__ = current
