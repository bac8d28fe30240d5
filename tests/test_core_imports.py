"""The engine's imports run with the garbage collector paused, and leave it as it was."""

from __future__ import annotations

import gc
import importlib
import sys

import pytest

from core.imports import collector_paused


@pytest.fixture(autouse=True)
def _restore_collector():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False], ids=["was on", "was off"])
def test_the_collector_is_off_inside_and_as_it_was_after(enabled: bool) -> None:
    gc.enable() if enabled else gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_what_the_import_made_is_frozen_out_of_later_collections() -> None:
    sys.modules.pop("json.tool", None)
    before = gc.get_freeze_count()
    with collector_paused():
        importlib.import_module("json.tool")
    assert gc.get_freeze_count() > before


def test_an_import_error_still_puts_the_collector_back() -> None:
    gc.enable()
    with pytest.raises(ModuleNotFoundError), collector_paused():
        importlib.import_module("no_such_module_here")
    assert gc.isenabled()
