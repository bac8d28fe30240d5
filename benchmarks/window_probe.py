"""Time to window: start a Qt program and report when its first top-level window is painted.

    python -m benchmarks.window_probe bare          a bare PySide6 window: the floor
    python -m benchmarks.window_probe gui [ARGS]    the app (`python -m gui`)

`QApplication.exec` is wrapped so that an event filter sees the first paint (or expose) of a
top-level window; the probe then prints "window" and exits at once, whatever the program was
doing on its other threads. The parent process times the line's arrival from its launch.
"""

from __future__ import annotations

import os
import sys

from PySide6 import QtCore, QtWidgets

_EVENTS = (QtCore.QEvent.Type.Paint, QtCore.QEvent.Type.Expose, QtCore.QEvent.Type.UpdateRequest)


class _FirstPaint(QtCore.QObject):
    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if event.type() in _EVENTS:
            widget = obj if isinstance(obj, QtWidgets.QWidget) else None
            window = obj if isinstance(obj, QtCore.QObject) and obj.isWindowType() else None
            if (widget is not None and widget.isWindow() and widget.isVisible()) or (
                window is not None and window.isVisible()  # type: ignore[attr-defined]
            ):
                sys.stdout.write("window\n")
                sys.stdout.flush()
                os._exit(0)
        return False


def _wrap_exec() -> None:
    original = QtWidgets.QApplication.exec
    watcher = _FirstPaint()

    def exec_(*args: object) -> int:
        app = QtWidgets.QApplication.instance()
        app.installEventFilter(watcher)
        return original()

    QtWidgets.QApplication.exec = exec_  # type: ignore[method-assign]
    QtWidgets.QApplication.exec_ = exec_  # type: ignore[attr-defined]


def bare() -> int:
    app = QtWidgets.QApplication(sys.argv[:1])
    window = QtWidgets.QMainWindow()
    window.setWindowTitle("bare")
    window.setCentralWidget(QtWidgets.QLabel("Drop an image here"))
    window.resize(800, 600)
    window.show()
    return app.exec()


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else "bare"
    _wrap_exec()
    if what == "bare":
        return bare()
    import runpy

    sys.argv = [what, *sys.argv[2:]]
    runpy.run_module(what, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
