"""The engine on background threads, talking to the window by queued signals only.

Two QObjects, each moved to its own QThread by `Background`:

- `ClassifierWorker` owns the model. torch and the torch-using `core` modules are imported
  inside its slots, on its thread, so the window is on screen before torch loads.
- `ImageLoader` (gui/image_loader.py) lists folders and decodes pictures for the view and the
  thumbnails, so a dropped photo shows while the model is still loading or busy.

The requests and answers are the plain data of gui/messages.py. Workers never touch widgets.
Any unexpected exception in a slot is reported by `errored` (gui/reporting.py).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from core import (
    ClassificationResult,
    ClassifierError,
    DeviceInfo,
    DeviceUnavailableError,
    WeightsUnavailableError,
    engine_imports,
)
from gui.image_loader import ImageLoader, to_qimage
from gui.imports import plain_imports
from gui.messages import ClassifyRequest, ExplainRequest, HeatMap, LoadRequest, ModelFailure, Source
from gui.reporting import reporting

log = logging.getLogger(__name__)


# Requests the window makes on seeing the model loaded (images given on the command line, the
# ones dropped during loading) arrive well within this; the warm-up waits for them to go first.
WARM_UP_AFTER_MS = 250


# ---- the model ---------------------------------------------------------------------------------
class ClassifierWorker(QObject):
    """Holds the `core.engine.Classifier`; loads, moves and runs it, one request at a time."""

    status = Signal(str)
    devicesListed = Signal(object)  # list[DeviceInfo]
    downloadProgress = Signal(int, object, object)  # request id, bytes done, bytes total
    modelLoaded = Signal(int, object)  # request id, ModelInfo
    modelFailed = Signal(int, object)  # request id, ModelFailure
    deviceChanged = Signal(int, object)  # request id, ModelInfo
    deviceFailed = Signal(int, str)  # request id, message (the previous device stays)
    deviceFellBack = Signal(int, str)  # load request id, why its device could not be used
    classifyStarted = Signal(int, int)  # request id, number of images
    resultReady = Signal(int, int, object)  # request id, index in the request, result
    classifyFinished = Signal(int, bool)  # request id, cancelled
    explained = Signal(int, object)  # request id, HeatMap
    explainFailed = Signal(int, str)  # request id, message
    errored = Signal(str, str)  # summary, traceback

    def __init__(self) -> None:
        super().__init__()
        self._classifier: Any = None  # core.engine.Classifier, once loaded
        self._devices: list[DeviceInfo] | None = None
        # Runs over many images advance one image per event-loop turn, so a newer request
        # (a heat map, another run, a device switch) is taken between two images.
        self._runs: list[_Run] = []
        self._explains: list[ExplainRequest] = []
        self._scheduled = False

    @Slot(object)
    @reporting
    def load(self, request: LoadRequest) -> None:
        if request.cancel.is_set():
            return
        self.status.emit("Starting PyTorch…")
        # The first torch import happens here, on the worker thread.
        with plain_imports(), engine_imports():
            from core import (
                Classifier,
                apply_image_settings,
                available_devices,
                load_model,
                resolve_device,
            )

        apply_image_settings()  # the engine's images are read as the CLI reads them

        if self._devices is None:
            self._devices = available_devices()
            self.devicesListed.emit(self._devices)
        device = request.device
        try:
            resolve_device(device)
        except DeviceUnavailableError as exc:
            self.deviceFellBack.emit(request.request_id, exc.message)  # the window: CPU instead
            device = "cpu"
        name = Path(request.weights).name if request.weights else "ResNet50"
        self.status.emit(f"Loading {name} on {self._short_device(device)}…")
        progress = _ThrottledProgress(
            lambda done, total: self.downloadProgress.emit(request.request_id, done, total)
        )
        try:
            model = load_model(
                request.weights,
                request.labels,
                variant=request.variant,
                progress=progress,
                cancel=request.cancel,
            )
            classifier = Classifier(model, device)
        except ClassifierError as exc:
            missing = exc if isinstance(exc, WeightsUnavailableError) else None
            failure = ModelFailure(
                exc.message,
                offline=missing is not None,
                cancelled=request.cancel.is_set(),
                file_name=missing.file_name if missing else None,
                folder=missing.folder if missing else None,
            )
            self.modelFailed.emit(request.request_id, failure)
            return
        self._classifier = classifier
        self.modelLoaded.emit(request.request_id, classifier.info)
        self._warm_up_when_idle()

    @Slot(int, str)
    @reporting
    def set_device(self, request_id: int, device: str) -> None:
        if self._classifier is None:
            self.deviceFailed.emit(request_id, "No model is loaded yet.")
            return
        self.status.emit(f"Moving the model to {self._short_device(device)}…")
        try:
            self._classifier.to(device)
        except ClassifierError as exc:
            self.deviceFailed.emit(request_id, exc.message)
            return
        self.deviceChanged.emit(request_id, self._classifier.info)
        self._warm_up_when_idle()

    @Slot(object)
    @reporting
    def classify(self, request: ClassifyRequest) -> None:
        """Queue a run; it starts at once and goes on between other requests, newest first."""
        count = len(request.sources)
        if request.cancel.is_set():
            self.classifyFinished.emit(request.request_id, True)
            return
        if self._classifier is None:
            for i, source in enumerate(request.sources):
                error = "No model is loaded: choose Model > Load Weights…"
                self.resultReady.emit(request.request_id, i, _failed(source, error))
            self.classifyFinished.emit(request.request_id, False)
            return
        self.classifyStarted.emit(request.request_id, count)
        results = self._classifier.classify_many(
            list(request.sources),
            top_k=request.top_k,
            batch_size=request.batch_size,
            cancel=request.cancel,
            features=True,  # Find Similar compares them (gui/library.py)
        )
        self._runs.append(_Run(request, results))
        self._schedule()

    @Slot(object)
    def explain(self, request: ExplainRequest) -> None:
        """Queue a heat map; it goes before the next image of any run, and only the newest counts."""
        self._explains.append(request)
        self._schedule()

    @property
    def model_warm(self) -> bool:
        """Whether the loaded model has run once on its device (its kernels are set up)."""
        return self._classifier is not None and self._classifier.warm

    def _warm_up_when_idle(self) -> None:
        """The first forward pass on a device is the slowest (kernel set-up): run it on a blank
        image unless the window asks for real work first, which then warms the model itself."""
        QTimer.singleShot(WARM_UP_AFTER_MS, self._warm_up)

    @reporting
    def _warm_up(self) -> None:
        if self._classifier is not None and not (self._runs or self._explains):
            try:
                self._classifier.warm_up()
            except ClassifierError as exc:  # the next real request meets it and reports it
                log.info("warm-up failed: %s", exc.message)

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(0, self._step)

    @reporting
    def _step(self) -> None:
        self._scheduled = False
        self._end_cancelled_runs()
        if self._explains:
            request = self._explains[-1]
            self._explains.clear()  # older ones were superseded
            self._explain_now(request)
        elif self._runs:
            self._advance(max(self._runs, key=lambda run: run.request.request_id))
        if self._runs or self._explains:
            self._schedule()

    def _advance(self, run: _Run) -> None:
        """Classify the next image of `run`; the end of the run (or an error) closes it."""
        try:
            result = next(run.results)
        except StopIteration:
            self._runs.remove(run)
            self.classifyFinished.emit(run.request.request_id, run.request.cancel.is_set())
            return
        except Exception as exc:
            self._runs.remove(run)
            run.close()
            self._report(exc)
            self.classifyFinished.emit(run.request.request_id, True)
            return
        self.resultReady.emit(run.request.request_id, run.done, result)
        run.done += 1

    def _end_cancelled_runs(self) -> None:
        for run in [r for r in self._runs if r.request.cancel.is_set()]:
            self._runs.remove(run)
            run.close()
            self.classifyFinished.emit(run.request.request_id, True)

    def close_runs(self) -> None:
        """Stop every run at once (their decoders included); for when the thread has ended."""
        for run in self._runs:
            run.close()
        self._runs.clear()
        self._explains.clear()

    def _explain_now(self, request: ExplainRequest) -> None:
        if self._classifier is None:
            self.explainFailed.emit(request.request_id, "No model is loaded.")
            return
        from core import explain, read_image

        try:
            explanation = explain(self._classifier, request.source, request.class_index)
            picture = read_image(request.source, min_side=request.max_side // 2)
            picture.thumbnail((request.max_side, request.max_side))
            overlay = explanation.overlay(picture)
        except ClassifierError as exc:
            self.explainFailed.emit(request.request_id, exc.message)
            return
        except ValueError as exc:  # a class the model does not have
            self.explainFailed.emit(request.request_id, str(exc))
            return
        except Exception as exc:
            self._report(exc)
            self.explainFailed.emit(request.request_id, f"{type(exc).__name__}: {exc}")
            return
        heat = HeatMap(
            to_qimage(overlay), explanation.class_index, explanation.label, explanation.probability
        )
        self.explained.emit(request.request_id, heat)

    def _report(self, exc: BaseException) -> None:
        log.error("unexpected error on the classifier thread", exc_info=exc)
        text = "".join(traceback.format_exception(exc))
        self.errored.emit(f"{type(exc).__name__}: {exc}", text)

    def _short_device(self, spec: str) -> str:
        """ "CPU" or "GPU 0 (name)" for status lines, from the listed devices."""
        spec = spec.lower()
        if spec in ("auto", ""):
            ids = [d.id for d in self._devices or []]
            spec = next((i for i in ids if i.startswith("cuda")), "cpu")
        if spec == "cuda":
            spec = "cuda:0"
        for d in self._devices or []:
            if d.id == spec:
                return "CPU" if d.id == "cpu" else d.name
        return spec.upper() if spec == "cpu" else spec


class _Run:
    """A classify request under way: its results come from the engine's iterator."""

    __slots__ = ("done", "request", "results")

    def __init__(self, request: ClassifyRequest, results: Iterator[ClassificationResult]) -> None:
        self.request = request
        self.results = results
        self.done = 0

    def close(self) -> None:
        close = getattr(self.results, "close", None)
        if close is not None:
            close()  # ends the engine's generator: its decoders stop


class _ThrottledProgress:
    """Forward download progress at most every 50 ms (and always the last step)."""

    def __init__(self, emit: Callable[[int, int], None], interval: float = 0.05) -> None:
        self._emit = emit
        self._interval = interval
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval or (total and done >= total):
            self._last = now
            self._emit(done, total)


def _failed(source: Source, error: str) -> ClassificationResult:
    from core import source_name  # the engine's naming; imported late, as Pillow is

    return ClassificationResult(path=source_name(source), error=error)


# ---- threads -----------------------------------------------------------------------------------
class Background:
    """The two worker threads and their objects; `stop()` ends them before the window goes."""

    def __init__(self) -> None:
        self.classifier = ClassifierWorker()
        self.loader = ImageLoader()
        self.classifier_thread = QThread()
        self.classifier_thread.setObjectName("classifier")
        self.loader_thread = QThread()
        self.loader_thread.setObjectName("image-loader")
        self.classifier.moveToThread(self.classifier_thread)
        self.loader.moveToThread(self.loader_thread)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.classifier_thread.start()
            self.loader_thread.start()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Ask both threads to finish their current step and quit; True if both ended in time.

        Callers set the cancel events of running requests first, so that a download or a run
        over many images stops at its next step.
        """
        if not self._started:
            return True
        for thread in (self.classifier_thread, self.loader_thread):
            thread.quit()
        deadline = time.monotonic() + timeout_ms / 1000
        stopped = True
        for thread in (self.classifier_thread, self.loader_thread):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            stopped = thread.wait(left) and stopped
        if stopped:
            self.classifier.close_runs()  # its thread has ended: safe to touch from here
        return stopped

    def running(self) -> bool:
        return self.classifier_thread.isRunning() or self.loader_thread.isRunning()


__all__ = ["Background", "ClassifierWorker"]
