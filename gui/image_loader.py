"""Pictures for the eye, on their own thread: folders listed, images decoded for the view and
the thumbnails (Pillow and Qt only, no torch), so a dropped photo shows while the model is
still loading or busy.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QImageReader

from core import ImageReadError
from gui.messages import ImageJob, Source
from gui.reporting import reporting


class ImageLoader(QObject):
    """Lists folders and decodes images for display: the view first, then thumbnails.

    Jobs are taken one per event-loop turn, so a newer request (or `set_current`) arrives
    between them and jobs of an older drop are skipped. Thumbnails are asked for as rows come
    into sight, so the newest ask is served first.
    """

    expanded = Signal(int, object, object)  # request id, list[Source], list[str] problems
    imageLoaded = Signal(int, int, str, object, str)  # request id, index, kind, QImage, error
    errored = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self._views: collections.deque[ImageJob] = collections.deque()
        self._thumbs: collections.deque[ImageJob] = collections.deque()
        self._current = -1
        self._scheduled = False

    @Slot(int, object)
    @reporting
    def expand(self, request_id: int, raw: Sequence[Source]) -> None:
        """Files as given, folders as their images in name order; problems in words."""
        from core import apply_image_settings, expand_paths

        apply_image_settings()  # HEIC and the other registered formats are listed too
        self._current = max(self._current, request_id)
        sources: list[Source] = []
        problems: list[str] = []
        for item in raw:
            if isinstance(item, bytes):
                sources.append(item)
                continue
            path = Path(item)
            if path.is_dir():
                found = expand_paths([path])
                if not found:
                    problems.append(f"{path.name or path}: this folder holds no images.")
                sources.extend(str(p) for p in found)
            elif not path.exists():
                problems.append(f"{path.name}: file not found.")
            else:
                sources.append(str(path))
        self.expanded.emit(request_id, sources, problems)

    @Slot(int)
    def set_current(self, request_id: int) -> None:
        self._current = max(self._current, request_id)

    @Slot(object)
    def load(self, job: ImageJob) -> None:
        (self._views if job.kind == "view" else self._thumbs).append(job)
        if not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(0, self._next)

    @reporting
    def _next(self) -> None:
        self._scheduled = False
        job = self._take()
        if job is None:
            return
        try:
            image, error = decode_for_display(job.source, job.max_side), ""
        except ImageReadError as exc:
            image, error = QImage(), exc.message
        self.imageLoaded.emit(job.request_id, job.index, job.kind, image, error)
        if (self._views or self._thumbs) and not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(0, self._next)

    def _take(self) -> ImageJob | None:
        """The newest view job of the current drop, else its newest thumbnail job."""
        for queue in (self._views, self._thumbs):
            while queue:
                job = queue.pop()
                if job.request_id >= self._current:
                    if queue is self._views:
                        queue.clear()  # only the image asked for last is shown
                    return job
            queue.clear()
        return None


# A preview decodes at most this many pixels (after a JPEG's reduced decode): a larger canvas,
# such as a 240-byte WebP declaring 10000 x 8800, is refused for display instead of costing
# a gigabyte and seconds on the loader thread. It can still be classified.
PREVIEW_MAX_PIXELS = 40_000_000


def decode_for_display(source: Source, max_side: int) -> QImage:
    """A QImage no larger than `max_side`, EXIF orientation applied; raises `ImageReadError`.

    Qt's reader first (it can decode JPEGs at reduced size); Pillow, through the same
    `read_image` the model uses, for whatever Qt cannot read. Only regular files are opened
    (a FIFO would block the loader for good), within the decoders' shared pixel budget.
    """
    from core import (
        DECODE_BUDGET,
        apply_image_settings,
        check_regular_file,
        decode_cost_of,
        read_image,
    )

    apply_image_settings()  # idempotent: Pillow reads what the engine reads
    if not isinstance(source, bytes):
        check_regular_file(source)
    if isinstance(source, bytes):
        data = QByteArray(source)
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        reader = QImageReader(buffer)
    else:
        reader = QImageReader(source)
    reader.setAutoTransform(True)
    size = reader.size()
    scaled_on_decode = bytes(reader.format()).lower() in (b"jpeg", b"jpg")
    if (
        size.isValid()
        and size.width() * size.height() > PREVIEW_MAX_PIXELS
        and not scaled_on_decode
    ):
        name = "pasted image" if isinstance(source, bytes) else Path(source).name
        raise ImageReadError(
            f"{name}: too large to preview ({size.width():,} x {size.height():,} pixels)."
        )
    if size.isValid() and max(size.width(), size.height()) > max_side:
        reader.setScaledSize(
            size.scaled(QSize(max_side, max_side), Qt.AspectRatioMode.KeepAspectRatio)
        )
    # Qt's decoders hold memory as Pillow's do (a progressive JPEG's coefficients at full size
    # even when scaled): the read waits for its share of the budget the engine decodes in.
    cost = decode_cost_of(source, max_side // 2)
    if cost is None:
        cost = max(0, size.width() * size.height() * 4)
    with DECODE_BUDGET.claim() as claim:
        claim.take(cost)
        image = reader.read()
    if not image.isNull():
        return image
    with DECODE_BUDGET.claim() as claim:
        picture = read_image(
            source,
            min_side=max_side // 2,
            claim=claim,
            max_pixels=PREVIEW_MAX_PIXELS,
            too_large="too large to preview",
        )
        picture.thumbnail((max_side, max_side))
    return to_qimage(picture)


def to_qimage(picture: Any) -> QImage:
    """A PIL RGB image as a QImage that owns its pixels."""
    rgb = picture.convert("RGB").tobytes()
    qimage = QImage(
        rgb, picture.width, picture.height, 3 * picture.width, QImage.Format.Format_RGB888
    )
    return qimage.copy()  # own the pixels: `rgb` goes away with this frame
