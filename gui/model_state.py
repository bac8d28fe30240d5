"""The model the window classifies with and the device it runs on, without any widget.

Loads and device switches go to the worker as requests tagged with ids; an answer whose id is
no longer current is dropped here. A load's answers (and the fallback to the CPU when the
remembered device is missing) are checked against the load's id, a switch's against the
switch's. Results carry `key()` so that a result made by an earlier model or device is stale.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from core import DeviceInfo, ModelInfo
    from gui.messages import ModelFailure


class ModelState(QObject):
    """The model in use (`info`), the one asked for (`pending`), and the devices there are."""

    # Requests for the worker (queued: it lives on another thread).
    loadRequested = Signal(object)  # LoadRequest
    deviceRequested = Signal(int, str)  # switch id, device

    # The worker is wanted for a load or a switch: the run must stop at once (sent first).
    interrupting = Signal()
    # A load or a switch ended and a model is there: what is stale can be classified (sent last).
    settled = Signal()

    statusChanged = Signal(str)
    modelLoaded = Signal(object)  # ModelInfo
    modelFailed = Signal(object)  # ModelFailure (not a cancelled one)
    devicesListed = Signal(object)  # list[DeviceInfo]
    deviceChanged = Signal(object)  # ModelInfo, now on the device asked for
    deviceFailed = Signal(str)
    downloadProgress = Signal(int, int)  # bytes done, total (0: unknown)

    def __init__(
        self,
        weights: str | None = None,
        labels: str | None = None,
        device: str = "auto",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.weights, self.labels, self.device = weights, labels, device
        self.info: ModelInfo | None = None
        self.devices: list[DeviceInfo] = []
        self.no_model = False  # a load failed and no earlier model is there
        self.remember = False  # the load asked for is to be remembered in the settings
        self.pending: tuple[str | None, str | None] = (None, None)  # weights, labels asked for
        self.closing = False
        self._load_id = 0
        self._model_id = 0  # the load id of the model in use: a failed load leaves it as it was
        self._load_cancel: threading.Event | None = None
        self._device_id = 0

    def key(self) -> tuple[int, str] | None:
        """(load id, device) that results must come from to be up to date; None: no model."""
        return (self._model_id, self.info.device) if self.info is not None else None

    # ================================================================== loading
    def load(self, weights: str | None, labels: str | None, remember: bool) -> None:
        """Ask for a model; what runs is cancelled so the worker is free for it at once."""
        if self._load_cancel is not None:
            self._load_cancel.set()
        self.interrupting.emit()
        self._load_id += 1
        self._load_cancel = threading.Event()
        self.remember = remember
        self.no_model = False
        self.pending = (weights, labels)
        from gui.messages import LoadRequest

        request = LoadRequest(
            self._load_id, weights, labels, device=self.device, cancel=self._load_cancel
        )
        self.statusChanged.emit(f"Loading {Path(weights).name if weights else 'ResNet50'}…")
        self.loadRequested.emit(request)

    def retry_load(self) -> None:
        self.load(*self.pending, remember=self.remember)

    def on_model_loaded(self, request_id: int, info: ModelInfo) -> None:
        if request_id != self._load_id or self.closing:
            return
        self.info = info
        self._model_id = request_id
        self.device = info.device  # where it really runs (a missing GPU falls back to CPU)
        self.weights, self.labels = self.pending
        self.modelLoaded.emit(info)
        self.settled.emit()

    def on_model_failed(self, request_id: int, failure: ModelFailure) -> None:
        if request_id != self._load_id or self.closing or failure.cancelled:
            return
        if self.info is None:
            self.no_model = True
        self.modelFailed.emit(failure)
        if self.info is not None:
            # A new checkpoint did not load: the worker still holds the previous model.
            self.settled.emit()  # finish what the load interrupted

    def on_download(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._load_id:
            self.downloadProgress.emit(done, total)

    # ================================================================== devices
    def on_devices(self, devices: list[DeviceInfo]) -> None:
        self.devices = list(devices)
        self.devicesListed.emit(self.devices)

    def device_name(self, device: str) -> str:
        """A device id as a person reads it ("NVIDIA H100", "CPU"); the id if unknown."""
        if self.info is not None and device == self.info.device:
            return self.info.device_name
        return next((d.name for d in self.devices if d.id == device), device)

    def switch_device(self, device: str) -> None:
        """Move the model on the worker, then re-classify; a failure keeps the previous device."""
        if self.info is None:
            self.device = device
            return
        if device == self.info.device:  # already there: nothing to move, nothing to redo
            self.deviceChanged.emit(self.info)  # still the user's choice, to be remembered
            return
        self.interrupting.emit()
        self._device_id += 1
        self.deviceRequested.emit(self._device_id, device)

    def on_device_changed(self, request_id: int, info: ModelInfo) -> None:
        if self.closing or request_id != self._device_id:  # a later switch is on its way
            return
        self.info = info
        self.device = info.device
        self.deviceChanged.emit(info)
        self.settled.emit()  # results from the other device are stale by their key

    def on_device_fell_back(self, request_id: int, message: str) -> None:
        """The model being loaded could not use its device (ids of loads, not of switches)."""
        if request_id == self._load_id and not self.closing:
            self.deviceFailed.emit(message)

    def on_device_failed(self, request_id: int, message: str) -> None:
        if self.closing or request_id != self._device_id:
            return
        self.deviceFailed.emit(message)
        if self.info is not None:
            self.settled.emit()

    def close(self) -> None:
        """Cancel the load under way and drop every answer from now on."""
        self.closing = True
        if self._load_cancel is not None:
            self._load_cancel.set()
