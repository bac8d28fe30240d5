"""The main window: lays out the image view, the prediction panel and the results table, builds
the menus, and connects them to the session and the background threads.

State and request bookkeeping live in `Session` (gui/session.py); the panels only show what
they are given and emit what the user asked for. This module is the wiring between them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow, QSplitter, QVBoxLayout, QWidget

from gui import drops
from gui.current_item import CurrentItemView
from gui.image_view import ImageView
from gui.menus import Menus
from gui.prediction_panel import PredictionPanel
from gui.resources import APP_NAME
from gui.session import Item, Session
from gui.settings import Settings
from gui.status import Notice, StatusBar

# Imported where they are used: the worker module once the window is on screen, dialogs and
# the results table when they are first needed. The window must come up fast.
if TYPE_CHECKING:
    from PySide6.QtCore import QMimeData
    from PySide6.QtGui import (
        QAction,
        QCloseEvent,
        QDragEnterEvent,
        QDragMoveEvent,
        QDropEvent,
        QImage,
    )
    from PySide6.QtWidgets import QMessageBox

    from core.results import ClassificationResult, DeviceInfo, ModelInfo
    from gui.drops import Source
    from gui.results import ResultsPanel
    from gui.teach_dialog import TeachDialog
    from gui.worker import Background, ModelFailure

__all__ = ["Item", "MainWindow"]

log = logging.getLogger(__name__)

THUMB_SIDE = 40


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
        self.results: ResultsPanel | None = None  # built with the first drop of many images
        self.model_dialog: QMessageBox | None = None
        self.error_dialog: QMessageBox | None = None
        self.teach_dialog: TeachDialog | None = None
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
            self.resize(980, 680)
        self._show_placeholder()

    # ================================================================== building
    def _build_ui(self) -> None:
        self.view = ImageView()
        self.view.setToolTip("Drop photos or a folder here, or press Ctrl+O / Ctrl+V")
        self.notice = Notice()
        self.panel = PredictionPanel()
        # What the tests and the self-test read off, by the names they have always had.
        self.title, self.bars, self.meta = self.panel.title, self.panel.bars, self.panel.meta
        self.error, self.heat_button = self.panel.error, self.panel.heat_button
        self.heat_label = self.panel.heat_label

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
        self.status_text = self.status_bar.text
        self.progress, self.device_label = self.status_bar.progress, self.status_bar.device

    def _connect(self) -> None:
        m, s = self.menus, self.session
        self.open_action, self.open_folder_action = m.open_action, m.open_folder_action
        self.paste_action, self.export_action = m.paste_action, m.export_action
        self.heat_action = m.heat_action
        m.open_action.triggered.connect(self.choose_images)
        m.open_folder_action.triggered.connect(self.choose_folder)
        m.paste_action.triggered.connect(self.paste)
        m.weights_action.triggered.connect(self.choose_weights)
        m.labels_action.triggered.connect(self.choose_labels)
        m.teach_action.triggered.connect(self.open_teach_dialog)
        m.imagenet_action.triggered.connect(self.use_imagenet)
        m.export_action.triggered.connect(self.choose_export)
        m.quit_action.triggered.connect(self.close)
        m.next_action.triggered.connect(lambda: self._step(1))
        m.prev_action.triggered.connect(lambda: self._step(-1))
        m.about_action.triggered.connect(self._about)
        m.devices_action.triggered.connect(self.show_devices)
        self.device_menu = m.device_menu
        m.deviceChosen.connect(self.switch_device)
        self.shown = CurrentItemView(s, self.view, self.panel, m.heat_action)
        self.shown.heatMapShown.connect(self.heatMapShown)
        self.shown.heatMapProblem.connect(self.heatMapProblem)

        s.statusChanged.connect(self._on_status)
        s.modelLoaded.connect(self._on_model_loaded)
        s.modelFailed.connect(self._on_model_failed)
        s.devicesListed.connect(self._on_devices)
        s.deviceChanged.connect(self._on_device_changed)
        s.deviceFailed.connect(self._on_device_failed)
        s.downloadProgress.connect(self.status_bar.show_download)
        s.expanded.connect(self._on_expanded)
        s.thumbnailLoaded.connect(self._on_thumbnail)
        s.runStarted.connect(self._on_run_started)
        s.runAbandoned.connect(self._on_run_abandoned)
        s.itemClassified.connect(self._on_result)
        s.runFinished.connect(self._on_run_finished)
        s.runCancelled.connect(self._on_run_cancelled)

    def _wire_background(self) -> None:
        from gui.worker import Background

        self.background = Background()
        self.session.connect_background(self.background)
        self.background.classifier.status.connect(self._on_status)
        self.background.classifier.errored.connect(self._on_worker_error)
        self.background.loader.errored.connect(self._on_worker_error)

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
        self._wire_background()
        self.background.start()
        if self._start_images:
            self.open_sources(self._start_images, self._start_problems)
        self.session.load(self.session.weights, self.session.labels, remember=False)

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
        for dialog in (self.model_dialog, self.error_dialog):
            if dialog is not None:
                dialog.close()
        stopped = self.background.stop(timeout_ms) if self.background is not None else True
        if not stopped:
            log.warning("a worker thread did not stop within %d ms", timeout_ms)
        return stopped

    # ================================================================== model and device
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.progress.setVisible(False)
        if self.session.load_remember and self.interactive:
            self.settings.weights, self.settings.labels = self.session.pending_model
        self._check_device(info.device)
        self._show_ready()
        self.modelReady.emit(info)

    def _on_model_failed(self, failure: ModelFailure) -> None:
        self.progress.setVisible(False)
        self.modelProblem.emit(failure.message)
        if self.session.model is not None:
            self._show_ready()
            self._show_error("The weights could not be loaded", failure.message)
            return
        self._on_status("No model loaded. Use File > Load Weights… or File > Use ImageNet Weights.")
        self.shown.refresh()
        if not self.interactive:
            return
        from gui.dialogs import ModelDialog

        box = ModelDialog(self, failure, own_weights=self.session.pending_model[0] is not None)
        self.model_dialog = box
        self.retry_button, self.choose_button = box.retry_button, box.choose_button
        box.buttonClicked.connect(lambda button: self._model_dialog_done(box.choice(button)))
        box.open()

    def _model_dialog_done(self, choice: str) -> None:
        self.model_dialog = None
        if choice == "retry":
            self.session.retry_load()
        elif choice == "choose":
            QTimer.singleShot(0, self.choose_weights)
        elif choice == "imagenet":
            self.session.load(None, None, remember=True)

    def load_weights(self, path: str, labels: str | None = None) -> None:
        """Load the user's checkpoint (and labels); on failure the current model stays."""
        self.session.load(path, labels, remember=True)

    def open_teach_dialog(self) -> None:
        """Model > Teach New Classes…: one dialog, kept, whose taught model the window can use."""
        from gui.teach_dialog import TeachDialog

        if self.teach_dialog is None:
            self.teach_dialog = TeachDialog(self)
            self.teach_dialog.useModel.connect(self.load_weights)
        self.teach_dialog.show()

    def use_imagenet(self) -> None:
        self.session.load(None, None, remember=True)

    def choose_weights(self) -> None:
        from gui import dialogs

        path = dialogs.open_weights(self, self._folder_of(self.session.weights))
        if path:
            self.load_weights(path)

    def choose_labels(self) -> None:
        from gui import dialogs

        s = self.session
        path = dialogs.open_labels(self, self._folder_of(s.labels or s.weights))
        if path:
            s.load(s.weights, path, remember=True)

    def _folder_of(self, path: str | None) -> str:
        return str(Path(path).parent) if path else self.settings.last_folder

    def _on_devices(self, devices: list[DeviceInfo]) -> None:
        self.menus.set_devices(devices)
        if self.session.model is not None:
            self._check_device(self.session.model.device)
        from gui.devices_dialog import explain_missing_gpu

        explain_missing_gpu(self.device_menu, self.show_devices)  # its tooltips say why

    def show_devices(self) -> None:
        """Help > Devices…: every device torch can use, and why a GPU is missing."""
        from gui.devices_dialog import DevicesDialog

        DevicesDialog(self).open()

    def device_actions(self) -> list[QAction]:
        return self.menus.device_actions()

    def switch_device(self, device: str) -> None:
        """Move the model on the worker, then re-classify; a failure keeps the previous device."""
        self.session.switch_device(device)

    def _on_device_changed(self, info: ModelInfo) -> None:
        if self.interactive:
            self.settings.device = info.device
        self._check_device(info.device)
        self._show_ready()

    def _on_device_failed(self, message: str) -> None:
        self.deviceProblem.emit(message)
        model = self.session.model
        if model is None:  # while loading: the worker fell back to the CPU
            self.show_notice(f"{message} The model runs on the CPU instead.")
            return
        self.show_notice(f"Could not switch device: {message}")
        self._check_device(model.device)
        self._show_ready()

    def _check_device(self, device: str) -> None:
        self.menus.check_device(device)
        model = self.session.model
        self.status_bar.show_device(model.device_name if model is not None else None)

    # ================================================================== opening images
    def choose_images(self) -> None:
        from gui import dialogs

        paths = dialogs.open_images(self, self.settings.last_folder)
        if paths:
            self.settings.last_folder = str(Path(paths[0]).parent)
            self.open_sources(paths)

    def choose_folder(self) -> None:
        from gui import dialogs

        folder = dialogs.open_folder(self, self.settings.last_folder)
        if folder:
            self.settings.last_folder = folder
            self.open_sources([folder])

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            self.show_notice("The clipboard is empty.")
            return
        self.open_mime(mime)

    def open_mime(self, mime: QMimeData) -> bool:
        contents = drops.read_mime(mime)
        if contents.refused and not contents.usable:
            self.show_notice(" ".join(contents.refused))
            return False
        self.open_sources(list(contents.sources), list(contents.refused))
        return True

    def open_sources(self, sources: list[Source], problems: list[str] | None = None) -> None:
        """Show and classify these files, folders or image bytes, replacing what was shown."""
        if not self._started:  # before the workers run: opened as soon as they do
            self._start_images, self._start_problems = list(sources), list(problems or [])
            return
        self.session.open(sources, problems or [])
        self.notice.hide_text()
        self._on_status("Opening…")

    def _on_expanded(self, problems: list[str], replaced: bool) -> None:
        if problems:
            self.show_notice(" ".join(problems))
        if not replaced:  # nothing in the drop could be opened: what was shown stays
            self._show_ready()
            return
        many = len(self.session.items) > 1
        if many:
            self._results_panel().set_items(self.session.items)
        if self.results is not None:
            if not many:
                self.results.set_items(())
            self.results.setVisible(many)
        self._update_export()
        self.show_item(0)
        if self.session.model is not None:
            self.session.classify_stale()
        else:
            self.shown.refresh()

    def _results_panel(self) -> ResultsPanel:
        """The table under the photo, built the first time a drop holds several images."""
        if self.results is None:
            from gui.results import ResultsPanel

            self.results = ResultsPanel(THUMB_SIDE)
            self.results.picked.connect(self.show_item)
            self.results.cancelRequested.connect(self.session.cancel_run)
            self.results.resumeRequested.connect(self.session.classify_stale)
            self.results.model.thumbnailWanted.connect(self._want_thumbnail)
            self.results.table.addAction(self.export_action)
            self.main_splitter.addWidget(self.results)
            self.main_splitter.setStretchFactor(0, 3)
            self.main_splitter.setStretchFactor(1, 2)
            height = max(self.main_splitter.height(), 400)
            self.main_splitter.setSizes([height * 56 // 100, height * 44 // 100])
        return self.results

    def _table_shown(self) -> bool:
        return self.results is not None and len(self.session.items) > 1

    def _want_thumbnail(self, index: int) -> None:
        self.session.request_image(index, round(THUMB_SIDE * self.devicePixelRatioF()), "thumb")

    def _on_thumbnail(self, index: int, image: QImage) -> None:
        if self.results is not None:
            self.results.model.set_thumbnail(index, image, self.devicePixelRatioF())

    def show_item(self, index: int) -> None:
        """Make item `index` of the current drop the one shown in the view and the bars."""
        if self.shown.show(index) and self._table_shown():
            self.results.select_item(index)

    def current_index(self) -> int:
        return self.session.current

    def items(self) -> list[Item]:
        return list(self.session.items)

    def _step(self, delta: int) -> None:
        """The next or previous image, in the table's order when there is a table."""
        count, current = len(self.session.items), self.session.current
        if not count:
            return
        table = self._table_shown()
        self.show_item(
            self.results.neighbour(current, delta) if table else (current + delta) % count
        )

    # ================================================================== the run
    def _on_run_started(self, total: int) -> None:
        if self._table_shown():
            self.results.start_run(total)
        self._on_status(f"Classifying {total} images…" if total > 1 else "Classifying…")
        self.shown.refresh()

    def _on_run_abandoned(self) -> None:
        if self.results is not None:
            self.results.show_progress(False)

    def _on_result(self, index: int, result: ClassificationResult) -> None:
        s = self.session
        if self._table_shown():
            self.results.item_changed(index)
            self.results.advance(s.run_done)
        if index == s.current:
            self.shown.refresh()
        if s.run_total > 1 and s.run_done < s.run_total:
            self._on_status(f"Classified {s.run_done} of {s.run_total}…")
        self._update_export()
        self.itemClassified.emit(index, result)

    def _on_run_finished(self) -> None:
        if self.results is not None:
            self.results.end_run(0)
        self._show_ready()
        self.runFinished.emit()

    def _on_run_cancelled(self, left: int) -> None:
        s = self.session
        if self.results is not None:
            self.results.end_run(left)
        self._on_status(
            f"Stopped: {s.run_done} of {s.run_total} classified; "
            f"{left} left as they were (Resume classifies them)."
        )
        self.shown.refresh()
        self.runCancelled.emit(left)

    def cancel_run(self) -> None:
        """Stop the run between two images; every result made so far stays."""
        self.session.cancel_run()

    def resume_run(self) -> None:
        """Classify the images a cancelled run left out."""
        self.session.classify_stale()

    def pick_prediction(self, rank: int) -> None:
        """Show the heat map of the current image's prediction `rank` (0 = top-1)."""
        self.shown.pick(rank)

    # ================================================================== export
    def _update_export(self) -> None:
        self.export_action.setEnabled(self.session.has_results())

    def export_rows(self) -> list[ClassificationResult]:
        """What Export writes: the results the table shows, in its order (or the one image)."""
        rows = self.results.shown_rows() if self._table_shown() else range(len(self.session.items))
        return self.session.results_in(rows)

    def choose_export(self) -> None:
        from gui import dialogs

        path = dialogs.save_results(self, self.settings.last_folder or str(Path.home()))
        if path:
            self.export_results(path)

    def export_results(self, path: str) -> int:
        """Write the shown results to `path`: JSON lines for .json/.jsonl, else CSV.

        The records are those of `resnet-classify --format json|csv`. Returns how many images
        were written; a file that cannot be written is reported, not raised.
        """
        from core.errors import ExportError
        from core.export import write_results
        from core.results import printable

        try:
            count = write_results(path, self.export_rows())  # atomic: a failure keeps the old file
        except ExportError as exc:
            self._on_status(exc.message)
            self._show_error("The results could not be saved", exc.message)
            return 0
        self._on_status(f"Exported {count} results to {printable(Path(path).name)}.")
        return count

    # ================================================================== status, notices, errors
    def _show_placeholder(self) -> None:
        self.view.set_placeholder(
            f"Drop photos here\n\nThis window takes {drops.ACCEPTS}.\n"
            "File > Open (Ctrl+O) and Paste (Ctrl+V) do the same."
        )
        self.panel.show_placeholder()

    def _show_ready(self) -> None:
        model = self.session.model
        if model is None:
            return
        extra = f" ({model.num_classes} classes)" if model.num_classes != 1000 else ""
        self._on_status(f"Ready: {model.source}{extra}")
        self.status_bar.show_device(model.device_name)

    def _on_status(self, text: str) -> None:
        self.status_text.setText(text)

    def status(self) -> str:
        return self.status_text.text()

    def show_notice(self, text: str) -> None:
        self.notice.show_text(text)
        self._on_status(text)

    def hide_notice(self) -> None:
        self.notice.hide_text()

    def _show_error(self, title: str, message: str, details: str = "") -> None:
        if not self.interactive:
            log.error("%s: %s", title, message)
            return
        from gui.dialogs import error_box

        self.error_dialog = error_box(self, title, message, details)
        self.error_dialog.finished.connect(lambda _: setattr(self, "error_dialog", None))

    def show_unexpected(self, summary: str, details: str) -> None:
        """An exception nobody expected (a bug): shown with its traceback, the app goes on."""
        self._on_worker_error(summary, details)

    def _on_worker_error(self, summary: str, details: str) -> None:
        if self.session.closing:
            return
        self.workerError.emit(summary)
        self._on_status(f"Something went wrong: {summary}")
        self._show_error("Something went wrong", summary, details)

    def _about(self) -> None:
        from gui.dialogs import about

        about(self, APP_NAME)

    # ================================================================== drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if drops.can_take(event.mimeData()):
            self.view.set_drag_state("accept", "Drop to classify")
        else:
            self.view.set_drag_state(
                "refuse", "This can't be classified.\nDrop image files, folders or image data."
            )
        event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QEvent) -> None:
        self.view.set_drag_state(None)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.view.set_drag_state(None)
        if self.open_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.view.update()
        super().changeEvent(event)
