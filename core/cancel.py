"""Cancelling long work (a folder, a teaching): a caller passes an event or a function, the
work asks `stop_check(cancel)()` between steps."""

from __future__ import annotations

import threading
from collections.abc import Callable

CancelCheck = Callable[[], bool]
CancelLike = CancelCheck | threading.Event | None


def stop_check(cancel: CancelLike) -> CancelCheck:
    """A function that says whether to stop now: never, the event's state, or `cancel` itself."""
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel
