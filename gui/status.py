"""The window's status bar (a line of text, the weights download, the device) and the notice
banner over the photo for what went wrong with the last drop or device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QStatusBar

from gui.plain_text import MESSAGE_LIMIT, NAME_LIMIT, plain, set_text, shown, tip

if TYPE_CHECKING:
    from core import ClassificationResult, ModelInfo
    from gui.model_state import ModelState
    from gui.run import Run

NOTICE_STYLE = (
    "#notice { background: rgba(217, 83, 79, 40); border: 1px solid rgba(217, 83, 79, 160);"
    " border-radius: 4px; }"
)
MB = 1024 * 1024


class Notice(QLabel):
    """A red banner, hidden until there is something to say."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("notice")
        self.setWordWrap(True)
        self.setVisible(False)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setContentsMargins(8, 6, 8, 6)
        self.setStyleSheet(NOTICE_STYLE)
        plain(self)

    def show_text(self, text: str) -> None:
        set_text(self, text, MESSAGE_LIMIT, keep_newlines=True)
        self.setVisible(True)

    def hide_text(self) -> None:
        self.clear()
        self.setVisible(False)


class StatusBar(QStatusBar):
    """What the app is doing, on the left; download progress and the model's device, right."""

    def __init__(self) -> None:
        super().__init__()
        self.text = QLabel()
        self.text.setObjectName("status")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.device = QLabel()
        self.device.setObjectName("device")
        self.share = QLabel()  # the share of unsure photos after a folder (gui/unsure.py)
        self.share.setObjectName("unsureShare")
        plain(self.text, self.device, self.share)
        self.addWidget(self.text, 1)
        self.addPermanentWidget(self.share)
        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.device)
        self._run: Run | None = None

    def follow(self, model: ModelState, run: Run) -> None:
        """Say what the model and the run are doing: their own lines, the download, how far."""
        self._run = run
        model.statusChanged.connect(self.say)
        model.downloadProgress.connect(self.show_download)
        run.statusChanged.connect(self.say)
        run.runStarted.connect(self._on_run_started)
        run.itemClassified.connect(self._on_result)
        run.runFinished.connect(lambda: self.show_ready(model.info))
        run.runCancelled.connect(self._on_run_cancelled)

    def say(self, text: str) -> None:
        set_text(self.text, text.replace("\n", " "), MESSAGE_LIMIT)

    def show_ready(self, model: ModelInfo | None) -> None:
        """ "Ready: " and the weights, and the device, once a model is loaded (and no run goes)."""
        if model is None or (self._run is not None and self._run.running()):
            return
        extra = f" ({model.num_classes} classes)" if model.num_classes != 1000 else ""
        self.say(f"Ready: {model.source}{extra}")
        self.show_device(model.device_name)

    def show_download(self, done: int, total: int) -> str:
        """Show how far the weights download is (`total` 0: unknown); returns the line for it."""
        self.progress.setVisible(True)
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(min(1000, done * 1000 // total))
            text = f"Downloading ResNet50 weights: {done / MB:.1f} of {total / MB:.1f} MB"
        else:
            self.progress.setRange(0, 0)
            text = f"Downloading ResNet50 weights: {done / MB:.1f} MB"
        self.progress.setToolTip(text)
        self.say(text)
        return text

    def set_share(self, text: str) -> None:
        self.share.setText(text)

    def show_device(self, name: str | None) -> None:
        """The device the model runs on (None: no model yet)."""
        self.device.setText(shown(name or "", NAME_LIMIT))
        if name:
            self.device.setToolTip(tip(f"The model runs on {name}"))

    def _on_run_started(self, total: int) -> None:
        self.say(f"Classifying {total} images…" if total > 1 else "Classifying…")

    def _on_result(self, _index: int, _result: ClassificationResult) -> None:
        run = self._run
        if run is not None and run.total > 1 and run.done < run.total:
            self.say(f"Classified {run.done} of {run.total}…")

    def _on_run_cancelled(self, left: int) -> None:
        run = self._run
        if run is not None:
            self.say(
                f"Stopped: {run.done} of {run.total} classified; "
                f"{left} left as they were (Resume classifies them)."
            )
