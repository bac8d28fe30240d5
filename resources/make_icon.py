"""Draw the app icon (resources/icon.png, 256 px) with Qt's painter: a photo and its top-3 bars.

Run once after changing the drawing: `.venv/bin/python resources/make_icon.py`. The PNGs are
committed: icon.png, and the sizes a Linux desktop looks up in resources/icons/hicolor/ (the
.deb installs them). PyInstaller turns icon.png into .ico / .icns where a platform needs them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QLinearGradient, QPainter, QPainterPath

SIZE = 256
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)  # drawn at each size, not scaled down


def draw(size: int = SIZE) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 256, size / 256)

    # Background tile.
    tile = QRectF(8, 8, 240, 240)
    gradient = QLinearGradient(tile.topLeft(), tile.bottomRight())
    gradient.setColorAt(0, QColor("#2f80ed"))
    gradient.setColorAt(1, QColor("#1b3a8c"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(gradient)
    p.drawRoundedRect(tile, 52, 52)

    # The photo: a white card with a sun and two hills.
    card = QRectF(40, 40, 132, 104)
    p.setBrush(QColor("#ffffff"))
    p.drawRoundedRect(card, 14, 14)
    inner = card.adjusted(10, 10, -10, -10)
    p.save()
    clip = QPainterPath()
    clip.addRoundedRect(inner, 7, 7)
    p.setClipPath(clip)
    p.setBrush(QColor("#cfe3ff"))
    p.drawRect(inner)
    p.setBrush(QColor("#ffb703"))
    p.drawEllipse(QPointF(inner.right() - 26, inner.top() + 22), 12, 12)
    hills = QPainterPath()
    hills.moveTo(inner.left(), inner.bottom())
    hills.lineTo(inner.left() + 38, inner.top() + 36)
    hills.lineTo(inner.left() + 62, inner.top() + 58)
    hills.lineTo(inner.left() + 80, inner.top() + 44)
    hills.lineTo(inner.right(), inner.bottom())
    hills.closeSubpath()
    p.setBrush(QColor("#2a9d8f"))
    p.drawPath(hills)
    p.restore()

    # The predictions: three bars, longest first.
    for i, (length, color) in enumerate(((168, "#ffb703"), (104, "#ffffff"), (60, "#ffffff"))):
        y = 164 + i * 26
        p.setBrush(QColor(color) if i == 0 else QColor(255, 255, 255, 200 - 50 * i))
        p.drawRoundedRect(QRectF(40, y, length, 14), 7, 7)
    p.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    here = Path(__file__).resolve().parent
    outputs = {here / "icon.png": SIZE}
    for size in HICOLOR_SIZES:
        outputs[
            here / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "resnet-classifier.png"
        ] = size
    for out, size in outputs.items():
        out.parent.mkdir(parents=True, exist_ok=True)
        if not draw(size).save(str(out)):
            print(f"could not write {out}", file=sys.stderr)
            return 1
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
