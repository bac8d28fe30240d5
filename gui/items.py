"""The images of the current drop and what is known of each, without any widget.

A drop goes to the image loader to be expanded (folders into their images) and comes back as
the new list; the loader's answers carry the drop's id, and those of an older drop are dropped
here. `Items` reads like the list it holds: `len(items)`, `items[i]`, `for item in items`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from core import PASTED_IMAGE, summary

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from PySide6.QtGui import QImage

    from core import ClassificationResult
    from gui.drops import Source


class Item:
    """One image of the current drop, and what is known of it so far."""

    __slots__ = ("name", "result", "result_key", "source")

    def __init__(self, source: Source, name: str) -> None:
        self.source = source
        self.name = name
        self.result: ClassificationResult | None = None
        self.result_key: tuple[int, str] | None = None  # (model load id, device) it came from


def display_name(source: Source) -> str:
    """The name the engine gives a source: its path, or "pasted image" for bytes."""
    return PASTED_IMAGE if isinstance(source, bytes) else str(source)


class Items(QObject):
    """The list of the current drop; `first_new` is where the last drop's items begin."""

    # Requests for the image loader (queued: it lives on another thread).
    expandRequested = Signal(int, object)  # drop id, list of sources
    imageRequested = Signal(object)  # ImageJob
    loaderCurrent = Signal(int)  # the drop id whose images are still wanted

    # A drop with images in it is about to replace the list: what ran on the old one stops.
    replacing = Signal()
    expanded = Signal(object, bool)  # problems (list[str]), whether the list is a new drop
    viewLoaded = Signal(int, object, str)  # index, QImage decoded for the view, error
    thumbnailLoaded = Signal(int, object)  # index, QImage (null: unreadable)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[Item] = []
        self.drop_id = 0  # one per drop: the loader's answers and the item list
        self.first_new = 0  # items from here on came with the last drop: classified first
        self.closing = False
        self._pending_problems: list[str] = []
        self._join = False  # the drop being expanded joins the list rather than replacing it

    # ================================================================== reading
    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Item:
        return self._items[index]

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def as_list(self) -> list[Item]:
        """The list itself, for a table or a dialog that shows it: a new drop makes a new list
        (what showed the old one keeps it until told), a drop that joins extends this one."""
        return self._items

    def get(self, index: int) -> Item | None:
        """Item `index`, or None when there is none."""
        return self._items[index] if 0 <= index < len(self._items) else None

    def has_results(self) -> bool:
        return any(item.result is not None for item in self._items)

    def results_in(self, rows: Sequence[int]) -> list[ClassificationResult]:
        """The results of these items, in this order, leaving out those without one."""
        return [r for r in (self._items[i].result for i in rows) if r is not None]

    # ================================================================== a drop
    def open(self, sources: Sequence[Source], problems: Sequence[str] = (), join: bool = False):
        """Replace the list with these files, folders or image bytes (expanded by the loader).

        `join`: they go at the end of the list rather than replacing it. Either way the list
        stays as it is until the expansion is back: a drop of nothing that opens changes nothing.
        """
        self._join = join
        self.drop_id += 1
        self.loaderCurrent.emit(self.drop_id)
        self._pending_problems = list(problems)
        self.expandRequested.emit(self.drop_id, list(sources))

    def on_expanded(self, drop_id: int, sources: list[Source], problems: list[str]) -> None:
        if drop_id != self.drop_id or self.closing:
            return
        problems = summary(self._pending_problems + list(problems))  # 80,000 missing: a line
        if sources and self._join:
            self.first_new = len(self._items)
            self._items.extend(Item(s, display_name(s)) for s in sources)
        elif sources:
            self.replacing.emit()
            self._items = [Item(s, display_name(s)) for s in sources]
            self.first_new = 0
        self.expanded.emit(problems, bool(sources))

    # ================================================================== pictures
    def request_image(self, index: int, max_side: int, kind: str = "view") -> None:
        """Ask the loader for item `index` decoded for display ("view") or as a "thumb"."""
        if 0 <= index < len(self._items):
            from gui.messages import ImageJob

            source = self._items[index].source
            self.imageRequested.emit(ImageJob(self.drop_id, index, source, max_side, kind))

    def on_image_loaded(
        self, drop_id: int, index: int, kind: str, image: QImage, error: str
    ) -> None:
        if drop_id != self.drop_id or not 0 <= index < len(self._items):
            return
        if kind == "thumb":
            self.thumbnailLoaded.emit(index, image)
        else:
            self.viewLoaded.emit(index, image, error)

    def close(self) -> None:
        """Drop every expansion from now on."""
        self.closing = True
