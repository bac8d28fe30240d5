"""The desktop window: presents and wires; all model work goes through `core/` on a worker thread.

Importing `gui` never imports torch: the window must be on screen before the engine loads.
"""

from __future__ import annotations
