"""A worker slot's unexpected exception (a bug) becomes its `errored` signal, never a silent one."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def reporting(method: F) -> F:
    """Turn an unexpected exception in a worker slot into an `errored` signal, never a silent one."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any) -> Any:
        try:
            return method(self, *args)
        except Exception as exc:
            log.exception("unexpected error in %s", method.__name__)
            text = "".join(traceback.format_exception(exc))
            self.errored.emit(f"{type(exc).__name__}: {exc}", text)
            return None

    return wrapper  # type: ignore[return-value]
