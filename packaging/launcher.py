"""Entry point of the packaged app: the same as `python -m gui` / `resnet-classifier`."""

from __future__ import annotations

import sys

from gui.app import main

if __name__ == "__main__":
    sys.exit(main())
