"""Import torch and torchvision without the garbage collector walking them as they load.

Importing the two creates over a million Python objects. With the cyclic collector on, CPython
walks the growing heap again and again while they pile up: about 0.5 s of a 2.2 s import on
this machine (`benchmarks/`). An import makes next to no garbage (about 9,000 objects here, no
measurable memory), so the collector waits until it is over. What the import made is then
frozen out of the collector's sight (`gc.freeze`): modules live as long as the process, and a
first collection over them would cost another 0.3 s on whichever thread allocated next.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the enclosed imports with the cyclic garbage collector off, then freeze their objects."""
    with _lock:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            gc.freeze()
            if was_enabled:
                gc.enable()
