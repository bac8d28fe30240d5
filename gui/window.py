"""The main window: drop area and image view, predictions, heat map, results table, menus.

It presents and wires. Model work goes to `ClassifierWorker`, decoding for display to
`ImageLoader`, both on their own threads, through queued signals carrying request ids; an
answer whose id is no longer current is dropped, so the newest drop is what is shown.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QMainWindow,
    QProgressBar,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui import drops
from gui.drops import Source
from gui.resources import APP_NAME
from gui.settings import Settings
from gui.widgets import ImageView, PredictionBars, percent_text

# Imported where they are used: the worker module once the window is on screen, dialogs when
# they open. Each PySide6 class costs a few ms to set up and the window must come up fast.
if TYPE_CHECKING:
    from PySide6.QtCore import QMimeData
    from PySide6.QtGui import (
        QCloseEvent,
        QDragEnterEvent,
        QDragLeaveEvent,
        QDragMoveEvent,
        QDropEvent,
        QImage,
    )
    from PySide6.QtWidgets import QMessageBox, QPushButton

    from core.results import ClassificationResult, DeviceInfo, ModelInfo
    from gui.results import ResultsPanel
    from gui.worker import Background, HeatMap, ModelFailure

log = logging.getLogger(__name__)

IMAGE_FILTER = (
    "Images (*.jpg *.jpeg *.png *.webp *.bmp *.gif *.tif *.tiff *.ppm *.pgm *.ico *.jp2 *.avif "
    "*.heic);;All files (*)"
)
WEIGHTS_FILTER = "PyTorch checkpoints (*.pth *.pt *.bin *.ckpt *.safetensors);;All files (*)"
LABELS_FILTER = "Labels (*.txt *.json);;All files (*)"
EXPORT_FILTERS = ("CSV (*.csv)", "JSON Lines (*.jsonl *.json)")
VIEW_MAX_SIDE = 2048
THUMB_SIDE = 40
HEAT_CACHE = 8  # heat maps kept, so flipping between classes or images is instant


class Item:
    """One image of the current drop, and what is known of it so far."""

    __slots__ = ("name", "result", "result_key", "source")

    def __init__(self, source: Source, name: str) -> None:
        self.source = source
        self.name = name
        self.result: ClassificationResult | None = None
        self.result_key: tuple[int, str] | None = None  # (model load id, device) it came from


class MainWindow(QMainWindow):
    # To the workers (queued: they live on other threads).
    loadRequested = Signal(object)
    classifyRequested = Signal(object)
    deviceRequested = Signal(int, str)
    expandRequested = Signal(int, object)
    imageRequested = Signal(object)
    loaderCurrent = Signal(int)
    explainRequested = Signal(object)

    # For whoever drives the window (the self-test, tests, a later results table).
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
        self._weights = weights if weights is not None else self.settings.weights
        given = weights is not None or labels is not None
        self._labels = labels if given else self.settings.labels
        self._device = device or self.settings.device
        self._model: ModelInfo | None = None
        self._devices: list[DeviceInfo] = []
        self._items: list[Item] = []
        self._current = -1
        self._drop_id = 0  # one per drop: the loader's answers and the item list
        self._classify_id = 0
        self._classify_map: list[int] = []  # request index -> item index, current request
        self._classify_cancel: threading.Event | None = None
        self._load_id = 0
        self._load_cancel: threading.Event | None = None
        self._load_remember = False
        self._device_id = 0
        self._closing = False
        self._painted = False
        self._no_model = False  # a load failed and no earlier model is there
        self._started = False
        self._start_pending = False
        self._start_images: list[str] = []
        self._pending_model: tuple[str | None, str | None] = (None, None)
        self._pending_problems: list[str] = []
        self._running_key: tuple[int, str] | None = None
        self._run_total = 0
        self._run_done = 0
        self._run_cancelled = False  # the user stopped the last run: what is left waits
        self.results: ResultsPanel | None = None  # built with the first drop of many images
        self._heat_rank = 0  # which of the current image's predictions the heat map shows
        self._explain_id = 0
        self._heat_pending: tuple | None = None
        self._heat_cache: collections.OrderedDict[tuple, HeatMap] = collections.OrderedDict()
        self.model_dialog: QMessageBox | None = None
        self.error_dialog: QMessageBox | None = None

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_menus()
        self.background: Background | None = None
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(980, 680)
        self._show_placeholder()

    # ================================================================== building
    def _build_ui(self) -> None:
        self.view = ImageView()
        self.view.setToolTip("Drop photos or a folder here, or press Ctrl+O / Ctrl+V")

        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.notice.setFrameShape(QFrame.Shape.StyledPanel)
        self.notice.setContentsMargins(8, 6, 8, 6)
        self.notice.setStyleSheet(
            "#notice { background: rgba(217, 83, 79, 40); border: 1px solid rgba(217, 83, 79, 160);"
            " border-radius: 4px; }"
        )

        self.title = QLabel()
        self.title.setObjectName("title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bars = PredictionBars()
        self.bars.picked.connect(self.pick_prediction)
        self.heat_button = QToolButton()
        self.heat_button.setObjectName("heatButton")
        self.heat_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.heat_label = QLabel()
        self.heat_label.setObjectName("heatLabel")
        self.heat_label.setWordWrap(True)
        self.heat_label.setVisible(False)
        self.heat_label.setToolTip(
            "Grad-CAM: red where the evidence for the class is strongest, blue where there is "
            "little. The dimmed border lies outside the centre crop the model sees."
        )
        self.meta = QLabel()
        self.meta.setObjectName("meta")
        self.meta.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setVisible(False)

        side = QWidget()
        side.setMinimumWidth(260)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(12, 8, 12, 8)
        side_layout.setSpacing(8)
        side_layout.addWidget(self.title)
        side_layout.addWidget(self.error)
        side_layout.addWidget(self.bars)
        side_layout.addWidget(self.meta)
        side_layout.addSpacing(4)
        side_layout.addWidget(self.heat_button, 0, Qt.AlignmentFlag.AlignLeft)
        side_layout.addWidget(self.heat_label)
        side_layout.addStretch(1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.view)
        splitter.addWidget(side)
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

        self.status_text = QLabel()
        self.status_text.setObjectName("status")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.device_label = QLabel()
        self.device_label.setObjectName("device")
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.device_label)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = self._action(
            "&Open Images…",
            QKeySequence.StandardKey.Open,
            self.choose_images,
            "Classify image files",
        )
        self.open_folder_action = self._action(
            "Open &Folder…", "Ctrl+Shift+O", self.choose_folder, "Classify every image in a folder"
        )
        self.paste_action = self._action(
            "&Paste Image", QKeySequence.StandardKey.Paste, self.paste, "Classify the copied image"
        )
        self.weights_action = self._action(
            "Load &Weights…",
            "Ctrl+L",
            self.choose_weights,
            "Use your own ResNet50 checkpoint (.pth, .pt, .safetensors)",
        )
        self.labels_action = self._action(
            "Load La&bels…", None, self.choose_labels, "Class names: text (one per line) or JSON"
        )
        self.imagenet_action = self._action(
            "Use &ImageNet Weights",
            None,
            self.use_imagenet,
            "Go back to torchvision's ResNet50 trained on ImageNet",
        )
        self.export_action = self._action(
            "&Export Results…",
            "Ctrl+E",
            self.choose_export,
            "Save the table's results as CSV or JSON, in resnet-classify's format",
        )
        self.export_action.setEnabled(False)
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.close, None)
        for action in (self.open_action, self.open_folder_action, self.paste_action):
            file_menu.addAction(action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        for action in (self.weights_action, self.labels_action, self.imagenet_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        self.device_menu = self.menuBar().addMenu("&Device")
        self.device_menu.setToolTipsVisible(True)
        self.device_group = QActionGroup(self)
        self.device_group.setExclusive(True)
        waiting = self.device_menu.addAction("Looking for devices…")
        waiting.setEnabled(False)

        view_menu = self.menuBar().addMenu("&View")
        self.next_action = self._action("&Next Image", "Ctrl+Right", lambda: self._step(1), None)
        self.prev_action = self._action(
            "&Previous Image", "Ctrl+Left", lambda: self._step(-1), None
        )
        self.heat_action = self._action(
            "Show &Heat Map",
            "Ctrl+Shift+H",
            None,
            "Where the model found the selected prediction (Grad-CAM); click a bar for another "
            "class",
        )
        self.heat_action.setIconText("Show heat map")
        self.heat_action.setCheckable(True)
        self.heat_action.toggled.connect(self._heat_toggled)
        self.heat_button.setDefaultAction(self.heat_action)
        view_menu.addAction(self.heat_action)
        view_menu.addSeparator()
        view_menu.addAction(self.next_action)
        view_menu.addAction(self.prev_action)

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&About", None, self._about, None))

    def _action(self, text, shortcut, slot, tip) -> QAction:  # type: ignore[no-untyped-def]
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _wire_background(self) -> None:
        from gui.worker import Background

        self.background = Background()
        worker, loader = self.background.classifier, self.background.loader
        self.loadRequested.connect(worker.load)
        self.classifyRequested.connect(worker.classify)
        self.deviceRequested.connect(worker.set_device)
        self.expandRequested.connect(loader.expand)
        self.imageRequested.connect(loader.load)
        self.loaderCurrent.connect(loader.set_current)
        self.explainRequested.connect(worker.explain)
        worker.status.connect(self._on_status)
        worker.devicesListed.connect(self._on_devices)
        worker.downloadProgress.connect(self._on_download)
        worker.modelLoaded.connect(self._on_model_loaded)
        worker.modelFailed.connect(self._on_model_failed)
        worker.deviceChanged.connect(self._on_device_changed)
        worker.deviceFailed.connect(self._on_device_failed)
        worker.resultReady.connect(self._on_result)
        worker.classifyFinished.connect(self._on_classify_finished)
        worker.explained.connect(self._on_explained)
        worker.explainFailed.connect(self._on_explain_failed)
        worker.errored.connect(self._on_worker_error)
        loader.expanded.connect(self._on_expanded)
        loader.imageLoaded.connect(self._on_image_loaded)
        loader.errored.connect(self._on_worker_error)

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
        if self._started or self._closing:
            return
        self._started = True
        self._wire_background()
        self.background.start()
        if self._start_images:
            self.open_sources(self._start_images, self._pending_problems)
        self._load(self._weights, self._labels, remember=False)

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
        self._closing = True
        for event in (self._load_cancel, self._classify_cancel):
            if event is not None:
                event.set()
        for dialog in (self.model_dialog, self.error_dialog):
            if dialog is not None:
                dialog.close()
        stopped = self.background.stop(timeout_ms) if self.background is not None else True
        if not stopped:
            log.warning("a worker thread did not stop within %d ms", timeout_ms)
        return stopped

    # ================================================================== model
    def _load(self, weights: str | None, labels: str | None, remember: bool) -> None:
        if self._load_cancel is not None:
            self._load_cancel.set()
        self._cancel_classify()  # the worker is free for the load at once
        self._load_id += 1
        self._load_cancel = threading.Event()
        self._load_remember = remember
        self._no_model = False
        self._pending_model = (weights, labels)
        from gui.worker import LoadRequest

        request = LoadRequest(
            self._load_id, weights, labels, device=self._device, cancel=self._load_cancel
        )
        what = Path(weights).name if weights else "ResNet50"
        self._on_status(f"Loading {what}…")
        self.loadRequested.emit(request)

    def _on_model_loaded(self, request_id: int, info: ModelInfo) -> None:
        if request_id != self._load_id or self._closing:
            return
        self.progress.setVisible(False)
        self._model = info
        self._device = info.device  # where it really runs (a missing GPU falls back to CPU)
        weights, labels = self._pending_model
        self._weights, self._labels = weights, labels
        if self._load_remember and self.interactive:
            self.settings.weights = weights
            self.settings.labels = labels
        self._check_device(info.device)
        self._show_ready()
        self.modelReady.emit(info)
        self._classify_stale()

    def _on_model_failed(self, request_id: int, failure: ModelFailure) -> None:
        if request_id != self._load_id or self._closing or failure.cancelled:
            return
        self.progress.setVisible(False)
        self.modelProblem.emit(failure.message)
        if self._model is not None:
            # A new checkpoint did not load: the worker still holds the previous model.
            self._show_ready()
            self._show_error("The weights could not be loaded", failure.message)
            self._classify_stale()  # finish what the load interrupted
            return
        self._on_status("No model loaded. Use File > Load Weights… or File > Use ImageNet Weights.")
        self._no_model = True
        self._refresh_current()
        if not self.interactive:
            return
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("The model is not available")
        if failure.offline:
            box.setText("The ResNet50 ImageNet weights could not be downloaded.")
        else:
            box.setText("The model could not be loaded.")
        box.setInformativeText(failure.message)
        retry = box.addButton("&Retry", QMessageBox.ButtonRole.AcceptRole)
        choose = box.addButton("&Choose Weights File…", QMessageBox.ButtonRole.ActionRole)
        imagenet = None
        if self._weights_failed_were_own():
            imagenet = box.addButton("Use &ImageNet Weights", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.setDefaultButton(retry)
        self.model_dialog = box
        self.retry_button, self.choose_button = retry, choose

        def clicked(button: QPushButton) -> None:
            self.model_dialog = None
            if button is retry:
                self._load(*self._pending_model, remember=self._load_remember)
            elif button is choose:
                QTimer.singleShot(0, self.choose_weights)
            elif imagenet is not None and button is imagenet:
                self._load(None, None, remember=True)

        box.buttonClicked.connect(clicked)
        box.open()

    def _weights_failed_were_own(self) -> bool:
        return self._pending_model[0] is not None

    def choose_weights(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self, "Load ResNet50 Weights", self._dialog_folder(self._weights), WEIGHTS_FILTER
        )
        if path:
            self.load_weights(path)

    def load_weights(self, path: str, labels: str | None = None) -> None:
        """Load the user's checkpoint (and labels); on failure the current model stays."""
        self._load(path, labels, remember=True)

    def choose_labels(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self, "Load Labels", self._dialog_folder(self._labels or self._weights), LABELS_FILTER
        )
        if path:
            self._load(self._weights, path, remember=True)

    def use_imagenet(self) -> None:
        self._load(None, None, remember=True)

    # ================================================================== devices
    def _on_devices(self, devices: list[DeviceInfo]) -> None:
        self._devices = list(devices)
        self.device_menu.clear()
        for action in self.device_group.actions():
            self.device_group.removeAction(action)
        for device in self._devices:
            action = QAction(device.name, self)
            action.setCheckable(True)
            action.setData(device.id)
            action.setToolTip(f"Run the model on {device.name} ({device.id})")
            action.triggered.connect(lambda _=False, d=device.id: self.switch_device(d))
            self.device_group.addAction(action)
            self.device_menu.addAction(action)
        if self._model is not None:
            self._check_device(self._model.device)

    def device_actions(self) -> list[QAction]:
        return list(self.device_group.actions())

    def switch_device(self, device: str) -> None:
        """Move the model on the worker, then re-classify; a failure keeps the previous device."""
        if self._model is None:
            self._device = device
            return
        self._cancel_classify()
        self._device_id += 1
        self.deviceRequested.emit(self._device_id, device)

    def _on_device_changed(self, request_id: int, info: ModelInfo) -> None:
        if self._closing:
            return
        self._model = info
        self._device = info.device
        if self.interactive:
            self.settings.device = info.device
        self._check_device(info.device)
        self._show_ready()
        for item in self._items:  # re-classify on the device just chosen
            item.result_key = None
        self._classify_stale()

    def _on_device_failed(self, request_id: int, message: str) -> None:
        if self._closing:
            return
        self.deviceProblem.emit(message)
        if self._model is None:  # while loading: the worker fell back to the CPU
            self.show_notice(f"{message} The model runs on the CPU instead.")
        else:
            self.show_notice(f"Could not switch device: {message}")
        if self._model is not None:
            self._check_device(self._model.device)
            self._show_ready()
            self._classify_stale()

    def _check_device(self, device: str) -> None:
        for action in self.device_group.actions():
            action.setChecked(action.data() == device)
        self._update_device_label()

    def _update_device_label(self) -> None:
        if self._model is None:
            self.device_label.setText("")
            return
        self.device_label.setText(self._model.device_name)
        self.device_label.setToolTip(f"The model runs on {self._model.device_name}")

    # ================================================================== opening images
    def choose_images(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open Images", self.settings.last_folder, IMAGE_FILTER
        )
        if paths:
            self.settings.last_folder = str(Path(paths[0]).parent)
            self.open_sources(paths)

    def choose_folder(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self, "Open Folder", self.settings.last_folder)
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
            self._start_images = list(sources)
            self._pending_problems = list(problems or [])
            return
        self._cancel_classify()
        self._drop_id += 1
        self.loaderCurrent.emit(self._drop_id)
        self._pending_problems = list(problems or [])
        self.hide_notice()
        self._on_status("Opening…")
        self.expandRequested.emit(self._drop_id, list(sources))

    def _on_expanded(self, drop_id: int, sources: list[Source], problems: list[str]) -> None:
        if drop_id != self._drop_id or self._closing:
            return
        problems = self._pending_problems + list(problems)
        if problems:
            self.show_notice(" ".join(problems))
        if not sources:
            self._show_ready()
            return
        self._items = [Item(s, _display_name(s)) for s in sources]
        self._run_cancelled = False
        self._heat_cache.clear()
        many = len(self._items) > 1
        if many:
            self._results_panel().set_items(self._items)
        if self.results is not None:
            if not many:
                self.results.set_items(())
            self.results.setVisible(many)
        self._update_export()
        self._current = -1
        self.show_item(0)
        if self._model is not None:
            self._classify_stale()
        else:
            self._refresh_current()

    def _results_panel(self) -> ResultsPanel:
        """The table under the photo, built the first time a drop holds several images."""
        if self.results is None:
            from gui.results import ResultsPanel

            self.results = ResultsPanel(THUMB_SIDE)
            self.results.picked.connect(self.show_item)
            self.results.cancelRequested.connect(self.cancel_run)
            self.results.resumeRequested.connect(self.resume_run)
            self.results.model.thumbnailWanted.connect(self._want_thumbnail)
            self.results.table.addAction(self.export_action)
            self.main_splitter.addWidget(self.results)
            self.main_splitter.setStretchFactor(0, 3)
            self.main_splitter.setStretchFactor(1, 2)
            height = max(self.main_splitter.height(), 400)
            self.main_splitter.setSizes([height * 56 // 100, height * 44 // 100])
        return self.results

    def _want_thumbnail(self, index: int) -> None:
        if 0 <= index < len(self._items):
            from gui.worker import ImageJob

            side = round(THUMB_SIDE * self.devicePixelRatioF())
            source = self._items[index].source
            self.imageRequested.emit(ImageJob(self._drop_id, index, source, side, "thumb"))

    def _on_image_loaded(
        self, drop_id: int, index: int, kind: str, image: QImage, error: str
    ) -> None:
        if drop_id != self._drop_id or not 0 <= index < len(self._items):
            return
        if kind == "thumb":
            if self.results is not None:
                self.results.model.set_thumbnail(index, image, self.devicePixelRatioF())
            return
        if index != self._current:
            return
        if error:
            self.view.set_image(None)
            self.view.set_placeholder(error)
        else:
            self.view.set_image(image)

    def show_item(self, index: int) -> None:
        """Make item `index` of the current drop the one shown in the view and the bars."""
        if not 0 <= index < len(self._items) or index == self._current:
            return
        self._current = index
        self._heat_rank = 0
        if self.results is not None and len(self._items) > 1:
            self.results.select_item(index)
        self.view.set_image(None)
        self.view.set_overlay(None)
        self.view.set_placeholder("Loading…")
        from gui.worker import ImageJob

        side = self._view_side()
        self.imageRequested.emit(ImageJob(self._drop_id, index, self._items[index].source, side))
        self._refresh_current()

    def _view_side(self) -> int:
        return round(VIEW_MAX_SIDE * min(2.0, self.devicePixelRatioF()))

    def current_index(self) -> int:
        return self._current

    def items(self) -> list[Item]:
        return list(self._items)

    def _step(self, delta: int) -> None:
        """The next or previous image, in the table's order when there is a table."""
        if not self._items:
            return
        if self.results is not None and len(self._items) > 1:
            self.show_item(self.results.neighbour(self._current, delta))
        else:
            self.show_item((self._current + delta) % len(self._items))

    # ================================================================== classifying
    def _classify_stale(self) -> None:
        """Classify every item whose result is missing or came from another model or device."""
        if self._model is None or not self._items:
            return
        key = self._result_key()
        todo = [i for i, item in enumerate(self._items) if item.result_key != key]
        if not todo:
            self._refresh_current()
            return
        if self._current in todo:  # the one in view first
            todo.remove(self._current)
            todo.insert(0, self._current)
        self._cancel_classify()
        self._classify_id += 1
        self._classify_map = todo
        self._classify_cancel = threading.Event()
        self._running_key = key
        from gui.worker import ClassifyRequest

        request = ClassifyRequest(
            self._classify_id,
            tuple(self._items[i].source for i in todo),
            cancel=self._classify_cancel,
        )
        self._run_total, self._run_done = len(todo), 0
        self._run_cancelled = False
        if self.results is not None and len(self._items) > 1:
            self.results.start_run(len(todo))
        self._on_status(f"Classifying {len(todo)} images…" if len(todo) > 1 else "Classifying…")
        self._refresh_current()
        self.classifyRequested.emit(request)

    def _result_key(self) -> tuple[int, str]:
        assert self._model is not None
        return (self._load_id, self._model.device)

    def _cancel_classify(self) -> None:
        if self._classify_cancel is not None:
            self._classify_cancel.set()
            self._classify_cancel = None
        self._classify_id += 1  # whatever arrives from the old request is now stale
        if self.results is not None:
            self.results.show_progress(False)

    def cancel_run(self) -> None:
        """Stop the run between two images; every result made so far stays."""
        if self._classify_cancel is not None:
            self._classify_cancel.set()  # same request id: results already on their way count
            self._on_status("Stopping…")

    def resume_run(self) -> None:
        """Classify the images a cancelled run left out."""
        self._classify_stale()

    def _on_result(self, request_id: int, index: int, result: ClassificationResult) -> None:
        if request_id != self._classify_id or self._closing or index >= len(self._classify_map):
            return
        item_index = self._classify_map[index]
        item = self._items[item_index]
        item.result = result
        item.result_key = self._running_key
        self._run_done += 1
        if self.results is not None and len(self._items) > 1:
            self.results.item_changed(item_index)
            self.results.advance(self._run_done)
        if item_index == self._current:
            self._refresh_current()
        if self._run_total > 1 and self._run_done < self._run_total:
            self._on_status(f"Classified {self._run_done} of {self._run_total}…")
        self._update_export()
        self.itemClassified.emit(item_index, result)

    def _on_classify_finished(self, request_id: int, cancelled: bool) -> None:
        if request_id != self._classify_id or self._closing:
            return
        self._classify_cancel = None
        left = self._run_total - self._run_done
        if self.results is not None:
            self.results.end_run(left if cancelled else 0)
        if not cancelled:
            self._show_ready()
            self.runFinished.emit()
            return
        self._run_cancelled = True
        self._on_status(
            f"Stopped: {self._run_done} of {self._run_total} classified; "
            f"{left} left as they were (Resume classifies them)."
        )
        self._refresh_current()
        self.runCancelled.emit(left)

    # ================================================================== heat map
    def _heat_toggled(self, on: bool) -> None:
        self.heat_action.setIconText("Hide heat map" if on else "Show heat map")
        if not on:
            self._heat_pending = None
            self.view.set_overlay(None)
            self.heat_label.setVisible(False)
            self.bars.set_selected(None)
            return
        self._update_heat()

    def pick_prediction(self, rank: int) -> None:
        """Show the heat map of the current image's prediction `rank` (0 = top-1)."""
        item = self._current_item()
        if item is None or item.result is None or not item.result.ok:
            return
        self._heat_rank = max(0, min(rank, len(item.result.predictions) - 1))
        self.bars.set_selected(self._heat_rank)
        if self.heat_action.isChecked():
            self._update_heat()
        else:
            self.heat_action.setChecked(True)  # asking about a class means: show me

    def _current_item(self) -> Item | None:
        return self._items[self._current] if 0 <= self._current < len(self._items) else None

    def _update_heat(self) -> None:
        """Show, or ask the worker for, the heat map the current image and class call for."""
        if not self.heat_action.isChecked():
            return
        item = self._current_item()
        result = item.result if item is not None else None
        current = item is not None and item.result_key == self._current_key()
        if item is None or result is None or not current:
            self.view.set_overlay(None)
            self._heat_text("Waiting for the prediction…" if item else "")
            return
        if not result.ok:
            self.view.set_overlay(None)
            self._heat_text("No heat map: this image could not be classified.")
            return
        self._heat_rank = min(self._heat_rank, len(result.predictions) - 1)
        self.bars.set_selected(self._heat_rank)
        prediction = result.predictions[self._heat_rank]
        key = (self._drop_id, self._current, prediction.index, item.result_key)
        heat = self._heat_cache.get(key)
        if heat is not None:
            self._heat_cache.move_to_end(key)
            self._show_heat(heat)
            return
        self.view.set_overlay(None)
        self._heat_text(f"Making the heat map for “{prediction.label}”…")
        if key == self._heat_pending:
            return
        self._heat_pending = key
        self._explain_id += 1
        from gui.worker import ExplainRequest

        self.explainRequested.emit(
            ExplainRequest(self._explain_id, item.source, prediction.index, self._view_side())
        )

    def _on_explained(self, request_id: int, heat: HeatMap) -> None:
        if request_id != self._explain_id or self._closing or self._heat_pending is None:
            return
        self._heat_cache[self._heat_pending] = heat
        while len(self._heat_cache) > HEAT_CACHE:
            self._heat_cache.popitem(last=False)
        self._heat_pending = None
        self._update_heat()

    def _on_explain_failed(self, request_id: int, message: str) -> None:
        if request_id != self._explain_id or self._closing:
            return
        self._heat_pending = None
        if self.heat_action.isChecked():
            self.view.set_overlay(None)
            self._heat_text(f"⚠ No heat map: {message}")
        self.heatMapProblem.emit(message)

    def _show_heat(self, heat: HeatMap) -> None:
        self.view.set_overlay(heat.image)
        self._heat_text(f"Where it found “{heat.label}” ({percent_text(heat.probability)})")
        self.heatMapShown.emit(heat)

    def _heat_text(self, text: str) -> None:
        self.heat_label.setText(text)
        self.heat_label.setVisible(bool(text))

    # ================================================================== export
    def _update_export(self) -> None:
        self.export_action.setEnabled(any(item.result is not None for item in self._items))

    def export_rows(self) -> list[ClassificationResult]:
        """What Export writes: the results the table shows, in its order (or the one image)."""
        rows = (
            self.results.shown_rows()
            if self.results is not None and len(self._items) > 1
            else range(len(self._items))
        )
        return [self._items[r].result for r in rows if self._items[r].result is not None]

    def choose_export(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        start = str(Path(self.settings.last_folder or Path.home()) / "results.csv")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export Results", start, ";;".join(EXPORT_FILTERS)
        )
        if not path:
            return
        if not Path(path).suffix:
            path += ".jsonl" if chosen == EXPORT_FILTERS[1] else ".csv"
        self.export_results(path)

    def export_results(self, path: str) -> int:
        """Write the shown results to `path`: JSON lines for .json/.jsonl, else CSV.

        The records are those of `resnet-classify --format json|csv`. Returns how many images
        were written; a file that cannot be written is reported, not raised.
        """
        from core.errors import ExportError
        from core.export import write_results
        from core.results import printable

        results = self.export_rows()
        try:
            write_results(path, results)  # atomic: a failure keeps the previous file
        except ExportError as exc:
            self._on_status(exc.message)
            self._show_error("The results could not be saved", exc.message)
            return 0
        self._on_status(f"Exported {len(results)} results to {printable(Path(path).name)}.")
        return len(results)

    # ================================================================== showing
    def _refresh_current(self) -> None:
        self._refresh_predictions()
        self._update_heat()

    def _refresh_predictions(self) -> None:
        if not 0 <= self._current < len(self._items):
            return
        item = self._items[self._current]
        self.title.setText(_elide_middle(Path(item.name).name))
        self.title.setToolTip(item.name)
        result = item.result
        stale = result is not None and item.result_key != self._current_key()
        if result is None or (stale and not result.ok):
            self.bars.clear()
            self.error.setVisible(False)
            if self._model is None and self._no_model:
                self.meta.setText("No model is loaded: use File > Load Weights….")
            elif self._model is None:
                self.meta.setText("Waiting for the model…")
            elif self._run_cancelled and self._classify_cancel is None:
                self.meta.setText("Not classified: the run was stopped.")
            else:
                self.meta.setText("Classifying…")
            return
        if result.ok:
            self.error.setVisible(False)
            self.bars.set_predictions(result.predictions)
            self.bars.set_selected(self._heat_rank if self.heat_action.isChecked() else None)
            self.meta.setText(self._meta_text(result) + ("  (updating…)" if stale else ""))
        else:
            self.bars.clear()
            self.error.setText(f"⚠ {result.error}")
            self.error.setVisible(True)
            self.meta.setText("")

    def _current_key(self) -> tuple[int, str] | None:
        return self._result_key() if self._model is not None else None

    def _meta_text(self, result: ClassificationResult) -> str:
        device = result.device
        if self._model is not None and result.device == self._model.device:
            device = self._model.device_name
        else:
            for d in self._devices:
                if d.id == result.device:
                    device = d.name
        parts = [
            device,
            f"{result.seconds * 1000:.0f} ms" if result.seconds < 10 else f"{result.seconds:.1f} s",
        ]
        if self._model is not None:
            parts.append(self._model.source)
        if len(self._items) > 1:
            parts.insert(0, f"{self._current + 1} of {len(self._items)}")
        return " · ".join(parts)

    def _show_placeholder(self) -> None:
        self.view.set_placeholder(
            f"Drop photos here\n\nThis window takes {drops.ACCEPTS}.\n"
            "File > Open (Ctrl+O) and Paste (Ctrl+V) do the same."
        )
        self.title.setText("No image yet")
        self.bars.clear()
        self.meta.setText("The top-5 predictions for the image you drop appear here.")

    def _show_ready(self) -> None:
        if self._model is None:
            return
        text = f"Ready: {self._model.source}"
        if self._model.num_classes != 1000:
            text += f" ({self._model.num_classes} classes)"
        self._on_status(text)
        self._update_device_label()

    def _on_status(self, text: str) -> None:
        self.status_text.setText(text)

    def status(self) -> str:
        return self.status_text.text()

    def _on_download(self, request_id: int, done: int, total: int) -> None:
        if request_id != self._load_id:
            return
        mb = 1024 * 1024
        self.progress.setVisible(True)
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(min(1000, done * 1000 // total))
            text = f"Downloading ResNet50 weights: {done / mb:.1f} of {total / mb:.1f} MB"
        else:
            self.progress.setRange(0, 0)
            text = f"Downloading ResNet50 weights: {done / mb:.1f} MB"
        self.progress.setToolTip(text)
        self._on_status(text)

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(True)
        self._on_status(text)

    def hide_notice(self) -> None:
        self.notice.clear()
        self.notice.setVisible(False)

    def _show_error(self, title: str, message: str, details: str = "") -> None:
        if not self.interactive:
            log.error("%s: %s", title, message)
            return
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(title + ".")
        box.setInformativeText(message)
        if details:
            box.setDetailedText(details)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        self.error_dialog = box
        box.finished.connect(lambda _: setattr(self, "error_dialog", None))
        box.open()

    def show_unexpected(self, summary: str, details: str) -> None:
        """An exception nobody expected (a bug): shown with its traceback, the app goes on."""
        self._on_worker_error(summary, details)

    def _on_worker_error(self, summary: str, details: str) -> None:
        if self._closing:
            return
        self.workerError.emit(summary)
        self._on_status(f"Something went wrong: {summary}")
        self._show_error("Something went wrong", summary, details)

    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        from core import __version__

        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b> {__version__}<br>ResNet50 image classification with PyTorch "
            "and torchvision, in a Qt window.",
        )

    def _dialog_folder(self, path: str | None) -> str:
        return str(Path(path).parent) if path else self.settings.last_folder

    # ================================================================== drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if drops.can_take(mime):
            self.view.set_drag_state("accept", "Drop to classify")
        else:
            self.view.set_drag_state(
                "refuse", "This can't be classified.\nDrop image files, folders or image data."
            )
        event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
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


def _display_name(source: Source) -> str:
    """The name the engine gives a source: its path, or "pasted image" for bytes."""
    return "pasted image" if isinstance(source, bytes) else str(source)


def _elide_middle(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit // 2 - 1] + "…" + text[-limit // 2 :]
