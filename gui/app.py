"""`resnet-classifier`: the QApplication, command-line flags and start-up.

The window is shown first; the worker imports torch and loads the model after it is on screen.

    resnet-classifier [IMAGE...] [--weights FILE] [--labels FILE] [--device D]
    resnet-classifier --self-test [--weights FILE] [--device D]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from core import ExitCode

_T0 = time.perf_counter()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="resnet-classifier",
        description="Drop a photo on the window and see its top-5 ResNet50 predictions.",
    )
    p.add_argument("images", nargs="*", metavar="IMAGE", help="images or folders to open at once")
    p.add_argument("--weights", metavar="FILE", help="your own ResNet50 checkpoint for this run")
    p.add_argument("--labels", metavar="FILE", help="class names: text (one per line) or JSON")
    p.add_argument("--device", metavar="D", help="auto, cpu, cuda or cuda:N (default: remembered)")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="classify the bundled sample image through the window's worker, print one JSON "
        "line (as resnet-classify --format json does) and exit: 0 on success",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="--self-test gives up after S seconds (default: %(default)s)",
    )
    # Prints the seconds from start to the window's first paint, then exits (see startup_time.py).
    p.add_argument("--startup-probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--verbose", "-v", action="store_true", help="log what the app does")
    p.add_argument("--version", action=_PrintVersion, help="show the version and exit")
    return p


class _PrintVersion(argparse.Action):
    """`--version`, read from the package's metadata only when asked: importing
    importlib.metadata costs 14 ms before the window's first paint otherwise."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        from core import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if (args.self_test or args.startup_probe) and _headless():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    # One window per session: hand the files to the open one and leave, before Qt's widgets or
    # torch are imported. A run with its own model or device keeps its own window.
    scripted = args.self_test or args.startup_probe
    joins = not scripted and not (args.weights or args.labels or args.device)
    if joins:
        from gui.hand_over import hand_over

        if hand_over(args.images):
            return ExitCode.OK

    # Qt answers a missing library and an X display that does not answer alike, with an abort.
    from gui.platform_check import problem

    if (why := problem()) is not None:
        _say(sys.stderr, f"resnet-classifier: {why}")
        return ExitCode.SOME_FAILED

    from PySide6.QtCore import QLoggingCategory, QSettings
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from gui.compat import leak_advice, signal_refcount_leak
    from gui.resources import APP_NAME, ICON, ORGANIZATION, SAMPLE_IMAGE, resource_path
    from gui.settings import Settings
    from gui.window import MainWindow

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        _quiet_offscreen_warnings()
    # A broken file is reported in the window; Qt's decoder need not also warn on stderr.
    QLoggingCategory.setFilterRules("qt.gui.imageio*.warning=false")
    app = QApplication.instance() or QApplication(
        [sys.argv[0] if sys.argv else "resnet-classifier"]
    )
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(ORGANIZATION)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName(ORGANIZATION)
    instance = None
    if not scripted:
        from gui.single_instance import InstanceServer

        _more_descriptors()  # a flood of launches must not starve the app of them
        instance = InstanceServer(parent=app)
        instance.listen()
    icon = resource_path(ICON)
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))

    leaky = signal_refcount_leak()  # a known-bad PySide6 aborts after some thousands of images
    if leaky:
        _say(sys.stderr, f"resnet-classifier: {leak_advice()}")
        if args.self_test:
            return ExitCode.SOME_FAILED

    settings = Settings.in_memory() if scripted else Settings(QSettings())
    window = MainWindow(
        settings,
        weights=args.weights,
        labels=args.labels,
        device=args.device,
        interactive=not scripted,
    )
    images = list(args.images)
    check: SelfTest | None = None
    if args.self_test:
        sample = resource_path(SAMPLE_IMAGE)
        if not sample.is_file():
            _say(sys.stderr, f"resnet-classifier: self-test: sample image missing: {sample}")
            return ExitCode.SOME_FAILED
        images = [str(sample)]
        check = SelfTest(window, args.timeout)
    if args.startup_probe:
        _probe_first_paint(window, app)

    if window.interactive:
        sys.excepthook = _show_exceptions_in(window)
    if instance is not None:
        instance.filesReceived.connect(lambda files: _open_from_outside(window, files))
    if sys.platform == "darwin" and not scripted:  # Finder's "Open" and "Open With"
        from gui.file_open import FileOpenCollector

        finder = FileOpenCollector(app)
        app.installEventFilter(finder)
        finder.filesOpened.connect(lambda files: _open_from_outside(window, files))
    if leaky:
        window.show_notice(leak_advice())
    window.show()
    window.start(images)  # the workers start after the window's first paint
    code = app.exec()
    if instance is not None:
        instance.close()  # later launches start their own window from here on
    if check is not None:
        code = check.code
    if window.background.running() and not window.shutdown(5_000):
        # A stuck network read cannot be interrupted; leave rather than hang or abort.
        logging.getLogger(__name__).warning("leaving with a worker still busy")
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        os._exit(code)
    return code


class SelfTest:
    """Waits for the sample's result and turns it into one JSON line and an exit code."""

    def __init__(self, window, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
        from PySide6.QtCore import QTimer

        self.window = window
        self.code = ExitCode.SOME_FAILED
        self._done = False
        window.itemClassified.connect(self._on_result)
        window.modelProblem.connect(lambda m: self._fail(m, ExitCode.MODEL))
        window.deviceProblem.connect(lambda m: self._fail(m, ExitCode.MODEL))
        window.workerError.connect(
            lambda m: self._fail(f"unexpected error: {m}", ExitCode.SOME_FAILED)
        )
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(
            lambda: self._fail(f"no result within {timeout_s:g} seconds", ExitCode.SOME_FAILED)
        )
        self._timer.start(int(timeout_s * 1000))

    def _on_result(self, index: int, result) -> None:  # type: ignore[no-untyped-def]
        if self._done:
            return
        if not result.ok:
            self._fail(
                result.error or "the sample image could not be classified", ExitCode.SOME_FAILED
            )
            return
        import json

        _say(sys.stdout, json.dumps(result.to_dict(), ensure_ascii=False))
        self._finish(ExitCode.OK)

    def _fail(self, message: str, code: int) -> None:
        if self._done:
            return
        _say(sys.stderr, f"resnet-classifier: self-test failed: {message}")
        self._finish(code)

    def _finish(self, code: int) -> None:
        self._done = True
        self.code = code
        self._timer.stop()
        self.window.close()
        from PySide6.QtWidgets import QApplication

        QApplication.instance().exit(code)


def _open_from_outside(window, files: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Another launch or the file manager opened files: show them as a drop, window in front."""
    if window.isMinimized():
        window.showNormal()
    window.show()
    window.raise_()
    window.activateWindow()
    if files:  # a folder under way goes on: these join it, first in line
        window.open_sources(list(files), queue=True)


def _more_descriptors() -> None:
    """Raise the soft limit on open files to the hard one (1024 is a common soft default)."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _probe_first_paint(window, app) -> None:  # type: ignore[no-untyped-def]
    """Report the time to the window's first paint and whether torch had been imported by then."""
    from PySide6.QtCore import QEvent, QObject

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):  # type: ignore[no-untyped-def]
            if event.type() == QEvent.Type.Paint and obj is window:
                import json

                seconds = time.perf_counter() - _T0
                record = {
                    "first_paint_s": round(seconds, 4),
                    "torch_loaded": "torch" in sys.modules,
                }
                _say(sys.stdout, json.dumps(record))
                os._exit(0)
            return False

    window.installEventFilter(FirstPaint(window))  # the window, its parent, keeps it


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform warns about window hints it ignores; keep stderr for real news."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message):  # type: ignore[no-untyped-def]
        if "does not support propagateSizeHints" not in message:
            _say(sys.stderr, message)

    qInstallMessageHandler(handler)


def _show_exceptions_in(window):  # type: ignore[no-untyped-def]
    """An exception in a slot on the UI thread: logged and shown, never a silent traceback."""
    import traceback

    def hook(kind, value, tb):  # type: ignore[no-untyped-def]
        details = "".join(traceback.format_exception(kind, value, tb))
        logging.getLogger("gui").error("unexpected error\n%s", details)
        window.show_unexpected(f"{kind.__name__}: {value}", details)

    return hook


def _say(stream, text: str) -> None:  # type: ignore[no-untyped-def]
    """Write a line; a windowed app on Windows has no stdout or stderr at all."""
    if stream is not None:
        stream.write(text + "\n")
        stream.flush()


def _headless() -> bool:
    if "QT_QPA_PLATFORM" in os.environ or sys.platform in ("win32", "darwin"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


if __name__ == "__main__":
    raise SystemExit(main())
