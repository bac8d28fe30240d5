"""What a drop or a paste holds, as sources the worker can classify, or a reason to refuse it.

Runs on the UI thread, so it only looks at the mime data: no file is opened here. Folders are
listed and images decoded later, on the loader thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage

Source = str | bytes
"""A local path (file or folder) or encoded image bytes (PNG, JPEG...)."""

# Encoded formats worth passing on as they are; anything else with image data is re-encoded.
ENCODED_IMAGE_TYPES = (
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "image/bmp",
    "image/tiff",
)
REMOTE_SCHEMES = ("http", "https", "ftp")

ACCEPTS = "image files, folders of images, links to image files, or pasted image data"


class DropContents(NamedTuple):
    """What can be opened, and a sentence for each thing that cannot."""

    sources: tuple[Source, ...] = ()
    refused: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return bool(self.sources)


def can_take(mime: QMimeData) -> bool:
    """Cheap check for drag-enter highlighting: does this look like something we can use?"""
    if mime.hasImage() or any(mime.hasFormat(t) for t in ENCODED_IMAGE_TYPES):
        return True
    if mime.hasUrls():
        return any(url.isLocalFile() for url in mime.urls())
    return bool(_paths_in_text(mime.text())) if mime.hasText() else False


def read_mime(mime: QMimeData, verb: str = "drop") -> DropContents:
    """Local files and folders first, then image data; remote links and plain text are refused.

    `verb` ("drop" or "paste") is how the refusals address the user."""
    sources: list[Source] = []
    refused: list[str] = []
    remote: list[QUrl] = []
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                sources.append(url.toLocalFile())
            elif url.scheme().lower() in REMOTE_SCHEMES:
                remote.append(url)
            else:
                refused.append(f"{url.toDisplayString()}: not a file this app can open.")
    if not sources:
        data = image_bytes(mime)
        if data:
            sources.append(data)
    if not sources and remote:
        refused.append(
            f"{remote[0].fileName() or remote[0].host()}: links to the web can't be opened here. "
            f"Save the image, then {verb} the file."
        )
    if not sources and not mime.hasUrls() and mime.hasText():
        sources.extend(_paths_in_text(mime.text()))
        if not sources:
            refused.append(f"Text can't be classified: {verb} an image, a folder or an image file.")
    if not sources and not refused:
        done = "pasted" if verb == "paste" else "dropped"
        refused.append(f"Nothing usable was {done}. This window takes {ACCEPTS}.")
    return DropContents(tuple(sources), tuple(refused))


def image_bytes(mime: QMimeData) -> bytes | None:
    """Encoded image data as it came, or Qt's decoded image saved as PNG."""
    for kind in ENCODED_IMAGE_TYPES:
        if mime.hasFormat(kind):
            data = bytes(mime.data(kind).data())
            if data:
                return data
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return encode_png(image)
    return None


def encode_png(image: QImage) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(array.data())


def _paths_in_text(text: str) -> list[str]:
    """Lines of text that are all existing local paths or file URLs (a copied path, say)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    paths = []
    for line in lines:
        path = QUrl(line).toLocalFile() if line.startswith("file:") else line
        if not path or not Path(path).exists():
            return []
        paths.append(path)
    return paths
