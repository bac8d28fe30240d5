"""Entry point of the packaged command line: the same as `resnet-classify` from source."""

from __future__ import annotations

import sys

from core.cli.classify import main

if __name__ == "__main__":
    sys.exit(main())
