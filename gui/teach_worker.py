"""The Teach dialog's background: scans the folder, makes thumbnails, runs
`core.teach.training.train` and writes checkpoints, on its own QThread.

It answers by queued signals with plain data and request ids; it never touches a widget and no
tensor leaves its thread (the dialog gets the result without its weights, and the path of the
checkpoint saved).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage, QPainter

from core import ClassifierError, engine_imports
from gui.image_loader import decode_for_display
from gui.imports import plain_imports
from gui.reporting import reporting
from gui.teach_messages import FoundClass, Scan, Taught, TrainRequest
from gui.teach_naming import free_path

THUMBS_PER_CLASS = 5
THUMB_SIDE = 48
WRONG_SIDE = 256  # misclassified images, shown at this size when clicked


class TeachWorker(QObject):
    """Scans, trains and saves on its own thread; answers by signals only."""

    scanned = Signal(int, object)  # request id, Scan
    scanFailed = Signal(int, str)
    progressed = Signal(int, object)  # request id, core.Progress
    trained = Signal(int, object)  # request id, Taught
    trainFailed = Signal(int, str)
    cancelled = Signal(int)
    saved = Signal(str)  # path
    saveFailed = Signal(str)
    errored = Signal(str, str)

    @Slot(int, str)
    @reporting
    def scan(self, request_id: int, folder: str) -> None:
        with plain_imports(), engine_imports():
            from core import scan_folder, unreadable_images
        try:
            found = scan_folder(folder)
        except ClassifierError as exc:
            self.scanFailed.emit(request_id, exc.message)
            return
        bad = unreadable_images(p for c in found.classes for p in c.images)
        classes = []
        for c in found.classes:
            thumbs = []
            for path in (p for p in c.images if p not in bad):
                if len(thumbs) == THUMBS_PER_CLASS:
                    break
                try:
                    thumbs.append(decode_for_display(str(path), THUMB_SIDE))
                except ClassifierError:
                    continue
            count = sum(p not in bad for p in c.images)
            classes.append(FoundClass(c.name, count, _strip(thumbs)))
        named = tuple(f"{p.relative_to(found.root)}: {why}" for p, why in bad.items())
        scan = Scan(folder, tuple(classes), tuple(found.warnings()), named)
        self.scanned.emit(request_id, scan)

    @Slot(object)
    @reporting
    def train(self, request: TrainRequest) -> None:
        with plain_imports(), engine_imports():
            from core import Cancelled, TrainingOptions, save_checkpoint, train

        rid = request.request_id
        options = TrainingOptions(
            epochs=request.epochs,
            fine_tune=request.fine_tune,
            augment_passes=1 if request.augment else 0,
        )
        try:
            result = train(
                request.folder,
                options,
                backbone=request.backbone,
                progress=lambda p: self.progressed.emit(rid, p),
                cancel=request.cancel,
            )
            name = request.name or Path(request.folder).name or "taught-model"
            path = save_checkpoint(result, free_path(request.out_dir, name))
        except Cancelled:
            self.cancelled.emit(rid)
            return
        except ClassifierError as exc:
            self.trainFailed.emit(rid, exc.message)
            return
        wrong = []
        for m in result.misclassified:
            try:
                wrong.append((m, decode_for_display(m.path, WRONG_SIDE)))
            except ClassifierError:
                wrong.append((m, QImage()))
        light = dataclasses.replace(result, state_dict={})  # no tensor leaves this thread
        self.trained.emit(rid, Taught(light, str(path), tuple(wrong)))

    @Slot(str, str)
    @reporting
    def copy(self, source: str, target: str) -> None:
        from core import copy_file  # atomic: a full disk keeps the model that was there

        try:
            copy_file(source, target)
        except ClassifierError as exc:
            self.saveFailed.emit(exc.message)
            return
        self.saved.emit(target)


def _strip(images: list[QImage]) -> QImage:
    """Thumbnails side by side in squares, drawn on the worker (QImage is thread-safe)."""
    gap = 4
    side = THUMB_SIDE
    strip = QImage(max(1, len(images) * (side + gap) - gap), side, QImage.Format.Format_ARGB32)
    strip.fill(Qt.GlobalColor.transparent)
    painter = QPainter(strip)
    for i, img in enumerate(images):
        scaled = img.scaled(
            side, side, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
            Qt.TransformationMode.SmoothTransformation,
        )  # fmt: skip
        x0 = (scaled.width() - side) // 2
        y0 = (scaled.height() - side) // 2
        painter.drawImage(i * (side + gap), 0, scaled, x0, y0, side, side)
    painter.end()
    return strip
