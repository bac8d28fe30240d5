"""The engine must run where there is no Qt (the GPU machine, scripts): it never imports it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parent.parent


def test_importing_every_core_module_brings_no_qt():
    modules = sorted(m.name for m in pkgutil.walk_packages(core.__path__, "core."))
    assert {"core.engine", "core.model", "core.cli.classify", "core.decode.images"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for m in {[m for m in modules if not m.endswith('__main__')]!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "", f"core imported Qt: {out.stdout}"


def test_the_result_types_do_not_import_torch():
    """The window imports these on its UI thread, before torch is loaded."""
    code = "import sys, core.results, core.errors; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "False"
