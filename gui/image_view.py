"""The image view: the photo (or its heat map) scaled to fit, and the drop area around it.

It only displays what it is given. Colours come from the palette, so they follow the system's
light or dark scheme.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QMouseEvent, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QPushButton, QSizePolicy, QWidget

EMPTY_ICON = 64  # the icon over the empty state's sentence, in device-independent pixels


class ImageView(QFrame):
    """Shows one image scaled to fit, keeping its aspect; doubles as the drop area.

    With no image it shows what it accepts. `set_drag_state("accept" | "refuse" | None)`
    highlights it while something is dragged over the window. `set_overlay(image)` shows a
    picture of the same scene (the heat map over the photo) in place of the image.
    """

    clicked = Signal()  # the empty drop area was clicked: choose photos

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._empty = False  # nothing opened yet: icon, sentence and an Open button
        self._icon = QIcon()
        self.open_button = QPushButton("Open Photos…", self)
        self.open_button.setObjectName("openButton")
        self.open_button.setVisible(False)
        self.open_button.clicked.connect(self.clicked)
        self.setObjectName("imageView")
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._overlay: QImage | None = None
        self._scaled: QPixmap | None = None
        self._placeholder = placeholder
        self._drag_state: str | None = None
        self._drag_text = ""

    # ---- state ----------------------------------------------------------------------
    def set_image(self, image: QImage | None) -> None:
        self._image = image if image is not None and not image.isNull() else None
        if self._image is not None and self._empty:
            self.set_placeholder("")
        self._scaled = None
        self.update()

    def image(self) -> QImage | None:
        return self._image

    def set_overlay(self, image: QImage | None) -> None:
        """Show `image` instead of the image (same scene, same aspect); None: the image again."""
        overlay = image if image is not None and not image.isNull() else None
        if overlay is self._overlay:
            return
        self._overlay = overlay
        self._scaled = None
        self.update()

    def overlay(self) -> QImage | None:
        return self._overlay

    def overlay_shown(self) -> bool:
        """True while the overlay, not the plain image, is what is painted."""
        return self._overlay is not None and self._image is not None

    def shown_image(self) -> QImage | None:
        """The picture being painted: the overlay when there is one, else the image."""
        return self._overlay if self.overlay_shown() else self._image

    def set_placeholder(self, text: str, empty: bool = False, icon: QIcon | None = None) -> None:
        """Text where the photo goes; `empty`: the first-run state, clickable, with `icon`."""
        self._placeholder = text
        self._empty = empty
        if icon is not None:
            self._icon = icon
        self.open_button.setVisible(empty)
        self.setCursor(Qt.CursorShape.PointingHandCursor if empty else Qt.CursorShape.ArrowCursor)
        self._place_button()
        self.update()

    def is_empty_state(self) -> bool:
        return self._empty and self._image is None

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.is_empty_state() and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(event)

    def _place_button(self) -> None:
        hint = self.open_button.sizeHint()
        centre = self.contentsRect().center()
        self.open_button.move(centre.x() - hint.width() // 2, centre.y() + 70)
        self.open_button.resize(hint)

    def placeholder(self) -> str:
        return self._placeholder

    def set_drag_state(self, state: str | None, text: str = "") -> None:
        self._drag_state = state
        self._drag_text = text
        self.update()

    def drag_state(self) -> str | None:
        return self._drag_state

    def image_rect(self) -> QRect:
        """Where the image is drawn, in widget coordinates (empty when there is none)."""
        if self._image is None:
            return QRect()
        area = self.contentsRect().adjusted(8, 8, -8, -8)
        size = self._image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        # Blow a small image up at most twice its own size: beyond that it only gets blurry.
        dpr = self.devicePixelRatioF()
        largest = QSize(round(2 * self._image.width() / dpr), round(2 * self._image.height() / dpr))
        if size.width() > largest.width():
            size = largest
        x = area.x() + (area.width() - size.width()) // 2
        y = area.y() + (area.height() - size.height()) // 2
        return QRect(x, y, size.width(), size.height())

    # ---- painting -------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        self._scaled = None
        self._place_button()
        super().resizeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(560, 420)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        frame = QRectF(self.contentsRect()).adjusted(2, 2, -2, -2)
        if self._image is not None:
            target = self.image_rect()
            shown = self.shown_image()
            if (
                self._scaled is None
                or self._scaled.size() != target.size() * self.devicePixelRatioF()
            ):
                dpr = self.devicePixelRatioF()
                self._scaled = QPixmap.fromImage(
                    shown.scaled(
                        target.size() * dpr,
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                )
                self._scaled.setDevicePixelRatio(dpr)
            painter.drawPixmap(target.topLeft(), self._scaled)
        elif self._drag_state is None:
            pen = QPen(palette.color(QPalette.ColorRole.Mid), 2, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRoundedRect(frame, 12, 12)
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            text_area = frame.adjusted(24, 24, -24, -24)
            if self._empty and not self._icon.isNull():
                centre = frame.center()
                side = EMPTY_ICON
                self._icon.paint(
                    painter, QRect(int(centre.x()) - side // 2, int(centre.y()) - 130, side, side)
                )
                text_area = QRectF(frame.left() + 24, centre.y() - 56, frame.width() - 48, 112)
            painter.drawText(
                text_area,
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._placeholder,
            )
        if self._drag_state is not None:
            refuse = self._drag_state == "refuse"
            color = QColor("#d9534f") if refuse else palette.color(QPalette.ColorRole.Highlight)
            fill = QColor(color)
            fill.setAlpha(40)
            painter.setPen(QPen(color, 3))
            painter.setBrush(fill)
            painter.drawRoundedRect(frame, 12, 12)
            if self._drag_text:
                font = painter.font()
                font.setPointSizeF(font.pointSizeF() * 1.3)
                font.setBold(True)
                painter.setFont(font)
                flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
                area = frame.adjusted(24, 24, -24, -24)
                text_rect = painter.boundingRect(area, flags, self._drag_text)
                backdrop = palette.color(QPalette.ColorRole.Window)
                backdrop.setAlpha(220)  # keeps the text readable over a photo
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(backdrop)
                painter.drawRoundedRect(text_rect.adjusted(-16, -10, 16, 10), 8, 8)
                painter.setPen(palette.color(QPalette.ColorRole.WindowText))
                painter.drawText(area, flags, self._drag_text)
        painter.end()
