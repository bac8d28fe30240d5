"""Qt-free image classification engine: images in, ResNet50 predictions out.

Importing this package is cheap (no torch): the window imports result types on the UI thread
and leaves torch to its worker thread.
"""

from __future__ import annotations

__version__ = "0.1.0"
