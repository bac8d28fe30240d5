"""The engine's first import skips PySide6's per-import hook, and the hook comes back after."""

from __future__ import annotations

import builtins

import PySide6.QtCore  # noqa: F401  (installs PySide6's import hook)

from gui.imports import plain_imports


def test_plain_imports_swaps_the_hook_out_and_back():
    pyside_hook = builtins.__import__
    assert pyside_hook is not builtins.__orig_import__  # what this module is about
    with plain_imports():
        assert builtins.__import__ is builtins.__orig_import__
        import json  # noqa: F401

    assert builtins.__import__ is pyside_hook


def test_the_hook_comes_back_after_a_failed_import():
    pyside_hook = builtins.__import__
    try:
        with plain_imports():
            import no_such_module_here  # noqa: F401
    except ImportError:
        pass
    assert builtins.__import__ is pyside_hook
