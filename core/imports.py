"""Import torch and torchvision fast: without the garbage collector walking them as they load,
and without torch._dynamo, which eager inference never uses.

Importing the two creates over a million Python objects. With the cyclic collector on, CPython
walks the growing heap again and again while they pile up: about 0.5 s of a 2.2 s import on
this machine (`benchmarks/`). An import makes next to no garbage (about 9,000 objects here, no
measurable memory), so the collector waits until it is over. What the import made is then
frozen out of the collector's sight (`gc.freeze`): modules live as long as the process, and a
first collection over them would cost another 0.3 s on whichever thread allocated next.

torchvision 0.29's `ops/roi_align.py` imports one helper from `torch._dynamo.utils` at import
time, and importing torch._dynamo took 0.85 s of torchvision's 1.0 s here (torchvision's own
maintainers avoid importing dynamo for eager-only users: pytorch/vision#8436). While torchvision
imports, `dynamo_deferred` puts a stand-in in its place: the helper imports the real one when it
is first called (only roi_align, which ResNet50 never calls, calls it), and any other use of the
stand-in imports the real module and answers from it. Once torchvision is in, the stand-in is
gone and `import torch._dynamo` (torch.compile) loads the real one as ever.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_DYNAMO, _DYNAMO_UTILS = "torch._dynamo", "torch._dynamo.utils"


@contextmanager
def engine_imports() -> Iterator[None]:
    """The engine's first imports of torch and torchvision: `collector_paused` and
    `dynamo_deferred`."""
    with collector_paused(), dynamo_deferred():
        yield


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


@contextmanager
def dynamo_deferred() -> Iterator[None]:
    """Within, torch._dynamo is a stand-in unless it was imported before (see the module)."""
    if _DYNAMO in sys.modules or "torchvision" in sys.modules:
        yield
        return
    stand_ins = _stand_ins()
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        _remove(stand_ins)


def _stand_ins() -> dict[str, types.ModuleType]:
    package, utils = types.ModuleType(_DYNAMO), types.ModuleType(_DYNAMO_UTILS)
    stand_ins = {_DYNAMO: package, _DYNAMO_UTILS: utils}

    def real(name: str) -> types.ModuleType:
        _remove(stand_ins)
        return importlib.import_module(name)

    def is_compile_supported(device_type: Any) -> Any:
        return real(_DYNAMO_UTILS).is_compile_supported(device_type)

    def answer_from(name: str, is_package: bool) -> Any:
        def lookup(attr: str) -> Any:
            # What the import system and module scans ask is no use of dynamo (inspect reads
            # every module's __file__; `from m import f` asks m for __path__), except the
            # package's __path__: a submodule of the real package is being imported.
            if attr.startswith("__") and not (is_package and attr == "__path__"):
                raise AttributeError(attr)
            return getattr(real(name), attr)

        return lookup

    package.__getattr__ = answer_from(_DYNAMO, is_package=True)  # type: ignore[method-assign]
    utils.__getattr__ = answer_from(_DYNAMO_UTILS, is_package=False)  # type: ignore[method-assign]
    utils.is_compile_supported = is_compile_supported  # type: ignore[attr-defined]
    return stand_ins


def _remove(stand_ins: dict[str, types.ModuleType]) -> None:
    """Take the stand-ins out of sys.modules and off torch, where they are still there."""
    for name, module in stand_ins.items():
        if sys.modules.get(name) is module:
            del sys.modules[name]
    torch = sys.modules.get("torch")
    if torch is not None and vars(torch).get("_dynamo") is stand_ins[_DYNAMO]:
        delattr(torch, "_dynamo")
