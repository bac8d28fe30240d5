"""The main window: lays out the image view, the prediction panel and the results table, builds
the menus, and connects them to the session and the background threads.

State and request bookkeeping live in `Session` (gui/session.py) and its four small models
(items, current item, run, model state); the panels only show what they are given and emit
what the user asked for. What the user hands the window goes through
`Intake` (gui/intake.py), the model and device through `ModelControl` (gui/model_control.py),
the table through `ResultsArea` (gui/results_area.py), export through `Exporter`
(gui/export.py). This module is the wiring between them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QSplitter, QVBoxLayout, QWidget

from gui.current_item_view import CurrentItemView
from gui.export import Exporter
from gui.image_view import ImageView
from gui.intake import Intake
from gui.menus import Menus
from gui.model_control import ModelControl
from gui.prediction_panel import PredictionPanel
from gui.resources import APP_NAME
from gui.results_area import ResultsArea
from gui.session import Session
from gui.settings import Settings, default_size
from gui.status import Notice, StatusBar
from gui.table_follow import TableFollower

# Imported where they are used: the worker module once the window is on screen, dialogs and
# the results table when they are first needed. The window must come up fast.
if TYPE_CHECKING:
    from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QDialog, QMessageBox

    from core import ClassificationResult
    from gui.drops import Source
    from gui.items import Item
    from gui.library import Library
    from gui.worker import Background

__all__ = ["MainWindow"]

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    # For whoever drives the window (app.py's self-test, the tests).
    modelReady = Signal(object)  # ModelInfo
    modelProblem = Signal(str)  # the model could not be loaded (message as the CLI prints it)
    deviceProblem = Signal(str)
    itemClassified = Signal(int, object)  # index in the current drop, ClassificationResult
    runFinished = Signal()  # every image of the current drop has its result
    runCancelled = Signal(int)  # the user stopped the run; how many images have no result
    heatMapShown = Signal(object)  # HeatMap now drawn over the image
    heatMapProblem = Signal(str)
    workerError = Signal(str)

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        weights: str | None = None,
        labels: str | None = None,
        device: str | None = None,
        interactive: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings.in_memory()
        self.interactive = interactive
        # Files named on the command line are for this run; otherwise the remembered ones.
        given = weights is not None or labels is not None
        self.session = Session(
            weights if weights is not None else self.settings.weights,
            labels if given else self.settings.labels,
            device or self.settings.device,
            self,
        )
        self.background: Background | None = None
        self.library: Library | None = None  # built after the first paint (`_connect_library`)
        self.error_dialog: QMessageBox | None = None
        self.help_dialog: QDialog | None = None
        self._painted = self._started = self._start_pending = False
        self._start_images: list[Source] = []
        self._start_problems: list[str] = []

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self._build_ui()
        self.menus = Menus(self)
        self._connect()
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(default_size())
        self.panel.show_placeholder()

    # ================================================================== building
    def _build_ui(self) -> None:
        self.view = ImageView()
        self.view.setToolTip("Drop photos or a folder here, or press Ctrl+O / Ctrl+V")
        self.notice = Notice()
        self.panel = PredictionPanel()

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.view)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([620, 340])
        splitter.setChildrenCollapsible(False)
        # The results table goes under the photo when a drop holds several images.
        self.main_splitter = QSplitter(Qt.Orientation.Vertical)
        self.main_splitter.addWidget(splitter)
        self.main_splitter.setChildrenCollapsible(False)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addWidget(self.notice)
        layout.addWidget(self.main_splitter, 1)
        self.setCentralWidget(central)

        self.status_bar = StatusBar()
        self.setStatusBar(self.status_bar)

    def _connect(self) -> None:
        m, s = self.menus, self.session
        self.table = ResultsArea(s, self.main_splitter, m.export_action)
        self.table.picked.connect(self.show_item)
        self.follower = TableFollower(self.table, s, [m.export_action])
        self.follower.moveTo.connect(self.show_item)
        self.shown = CurrentItemView(s, self.view, self.panel, m.heat_action, self.follower)
        self.shown.heatMapShown.connect(self.heatMapShown)
        self.shown.heatMapProblem.connect(self.heatMapProblem)
        self.status_bar.follow(s.model_state, s.run)
        self.exporter = Exporter(self, s, self.table, self.settings, m.export_action)
        self.exporter.said.connect(self.status_bar.say)
        self.exporter.failed.connect(self.show_error)

        self.intake = Intake(self, self.settings, self.view, m)
        self.intake.opened.connect(self.open_sources)
        self.intake.refused.connect(self.show_notice)

        self.models = ModelControl(
            self, s.model_state, self.settings, m, self.status_bar, self.shown, self.interactive
        )
        self.models.ready.connect(self.modelReady)
        self.models.problem.connect(self.modelProblem)
        self.models.deviceProblem.connect(self.deviceProblem)
        self.models.notice.connect(self.show_notice)
        self.models.failed.connect(self.show_error)

        m.quit_action.triggered.connect(self.close)
        m.next_action.triggered.connect(lambda: self._step(1))
        m.prev_action.triggered.connect(lambda: self._step(-1))
        for action, which in ((m.about_action, "about"), (m.guide_action, "guide")):
            action.triggered.connect(lambda _=False, w=which: self._help(w))
        m.shortcuts_action.triggered.connect(lambda: self._help("shortcuts"))

    def _connect_library(self) -> None:
        """Keywords, sorting, unsure and corrections, and what follows them in the session's
        signals: built after the first paint, as the workers are (with the result types they
        took 9 ms of 154 to the window), since nothing can be opened or classified before."""
        from gui.library import Library

        s = self.session
        self.library = Library(self, s, self.table, self.settings, self.menus, self.status_bar)
        # After the library's own handlers: a new drop reloads its corrections before the
        # window builds the table that shows them.
        s.items.expanded.connect(self._on_expanded)
        # Last, so that whoever listens hears of a result once the window shows it.
        s.run.itemClassified.connect(self.itemClassified)
        s.run.runFinished.connect(self.runFinished)
        s.run.runCancelled.connect(self.runCancelled)

    def _wire_background(self) -> None:
        from gui.worker import Background

        self.background = Background()
        self.session.connect_background(self.background)
        self.background.classifier.status.connect(self.status_bar.say)
        self.background.classifier.errored.connect(self.show_unexpected)
        self.background.loader.errored.connect(self.show_unexpected)

    # ================================================================== start and stop
    def start(self, images: list[str] | None = None) -> None:
        """Start the threads and load the model once the window has painted itself.

        Call after `show()`: torch is imported by the worker, and only after the first frame,
        so the window is on screen before the import competes for the CPU and the GIL.
        """
        self._start_images = list(images or [])
        if self._painted:
            QTimer.singleShot(0, self._start_now)
        else:
            self._start_pending = True
            # Should no paint come (a minimised window, say), start anyway.
            QTimer.singleShot(1000, self._start_now)

    def _start_now(self) -> None:
        if self._started or self.session.closing:
            return
        self._started = True
        self._connect_library()
        self._wire_background()
        self.background.start()
        if self._start_images:
            self.open_sources(self._start_images, self._start_problems)
        model = self.session.model_state
        model.load(model.weights, model.labels, remember=False)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not self._painted:
            self._painted = True
            if self._start_pending:
                QTimer.singleShot(0, self._start_now)
        return super().event(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.interactive:
            self.settings.geometry = self.saveGeometry()
            self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel what runs, stop both threads and wait for them; True when they ended."""
        self.session.close()
        for dialog in (self.models.dialog, self.error_dialog):
            if dialog is not None:
                dialog.close()
        stopped = self.background.stop(timeout_ms) if self.background is not None else True
        if not stopped:
            log.warning("a worker thread did not stop within %d ms", timeout_ms)
        return stopped

    # ================================================================== what is shown
    def open_sources(self, sources: list[Source], problems: list[str] | None = None, **how: bool):
        """Show and classify these files, folders or image bytes (`queue`: see Session.open)."""
        if not self._started:  # before the workers run: opened as soon as they do
            self._start_images, self._start_problems = list(sources), list(problems or [])
            return
        self.session.open(sources, problems or [], queue=how.get("queue", False))
        self.notice.hide_text()
        self.status_bar.say("Opening…")

    def _on_expanded(self, problems: list[str], replaced: bool) -> None:
        if problems:
            self.show_notice(" ".join(problems))
        s = self.session
        if not replaced:  # nothing in the drop could be opened: what was shown (or runs) stays
            self.status_bar.show_ready(s.model_state.info)
            return
        self.table.show_items(s.items.as_list())
        self.exporter.update()
        self.show_item(s.items.first_new)
        if s.model_state.info is not None:
            s.run.classify_stale()
        else:
            self.shown.refresh()

    def show_item(self, index: int) -> None:
        """Make item `index` of the current drop the one shown in the view and the bars."""
        if self.shown.show(index):
            self.table.select(index)

    def _step(self, delta: int) -> None:
        """The next or previous image, in the table's order when there is a table."""
        if self.session.items:
            self.show_item(self.table.step(self.session.current_item.index, delta))

    def current_index(self) -> int:
        return self.session.current_item.index

    def items(self) -> list[Item]:
        return list(self.session.items)

    # ================================================================== for scripts and tests
    def load_weights(self, path: str, labels: str | None = None) -> None:
        self.models.load_weights(path, labels)

    def switch_device(self, device: str) -> None:
        self.session.model_state.switch_device(device)

    def device_actions(self) -> list[QAction]:
        return self.menus.device_actions()

    def export_rows(self) -> list[ClassificationResult]:
        return self.exporter.rows()

    def export_results(self, path: str) -> int:
        return self.exporter.write(path)

    # ================================================================== status, notices, errors
    def status(self) -> str:
        return self.status_bar.text.text()

    def show_notice(self, text: str) -> None:
        self.notice.show_text(text)
        self.status_bar.say(text)

    def show_error(self, title: str, message: str, details: str = "") -> None:
        if not self.interactive:
            log.error("%s: %s", title, message)
            return
        from gui.dialogs import error_box

        self.error_dialog = error_box(self, title, message, details)
        self.error_dialog.finished.connect(lambda _: setattr(self, "error_dialog", None))

    def show_unexpected(self, summary: str, details: str) -> None:
        """An exception nobody expected (a bug): shown with its traceback, the app goes on."""
        if self.session.closing:
            return
        self.workerError.emit(summary)
        self.status_bar.say(f"Something went wrong: {summary}")
        self.show_error("Something went wrong", summary, details)

    def _help(self, which: str) -> None:
        """Help > User Guide, Keyboard Shortcuts or About; built when first asked for."""
        from gui.help_dialog import show_help

        self.help_dialog = show_help(self, which, self.menus.shortcuts())

    # ================================================================== drops, passed on
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.intake.drag_entered(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QEvent) -> None:
        self.intake.drag_left()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.intake.dropped(event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.view.update()
        super().changeEvent(event)
