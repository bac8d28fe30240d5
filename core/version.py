"""The version, written once: `version` in pyproject.toml, read from the installed package's
metadata (a frozen app carries that metadata; a source checkout that was never installed reads
pyproject.toml itself)."""

from __future__ import annotations

import functools
import re
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "resnet-classifier"


@functools.cache
def version() -> str:
    """This copy's version, e.g. "0.1.0"."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
        except OSError:
            found = None
        return found.group(1) if found else "unknown"
