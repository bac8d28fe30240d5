"""What the user hands the window: files and folders from File > Open, what is pasted, and
what is dragged onto the window (gui/drops.py says what a drop holds and what is refused).

Whatever can be opened comes out as `opened(sources, problems)`; when nothing can, `refused`
carries the sentence that says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication, QIcon

from gui import drops
from gui.resources import ICON, resource_path

if TYPE_CHECKING:
    from PySide6.QtCore import QMimeData
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QWidget

    from gui.image_view import ImageView
    from gui.menus import Menus
    from gui.settings import Settings

PLACEHOLDER = (
    "Drop photos or a folder here to see what is in them,\nor click to choose them.\n\n"
    f"This window takes {drops.ACCEPTS}; Paste (Ctrl+V) works too."
)


class Intake(QObject):
    opened = Signal(object, object)  # list of sources (paths, image bytes), list of problems
    refused = Signal(str)  # nothing could be opened: why

    def __init__(self, window: QWidget, settings: Settings, view: ImageView, menus: Menus) -> None:
        super().__init__(window)
        self.window, self.settings, self.view = window, settings, view
        menus.open_action.triggered.connect(self.choose_images)
        menus.open_folder_action.triggered.connect(self.choose_folder)
        menus.paste_action.triggered.connect(self.paste)
        view.clicked.connect(self.choose_images)  # the empty drop area and its Open button
        view.set_placeholder(PLACEHOLDER, empty=True, icon=QIcon(str(resource_path(ICON))))

    def choose_images(self) -> None:
        from gui import dialogs

        paths = dialogs.open_images(self.window, self.settings.last_folder)
        if paths:
            self.settings.last_folder = str(Path(paths[0]).parent)
            self.opened.emit(paths, [])

    def choose_folder(self) -> None:
        from gui import dialogs

        folder = dialogs.open_folder(self.window, self.settings.last_folder)
        if folder:
            self.settings.last_folder = folder
            self.opened.emit([folder], [])

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            self.refused.emit("The clipboard is empty.")
            return
        self.open_mime(mime, "paste")

    def open_mime(self, mime: QMimeData, verb: str = "drop") -> bool:
        """Open what `mime` holds; False when none of it could be opened."""
        contents = drops.read_mime(mime, verb)
        if contents.refused and not contents.usable:
            self.refused.emit(" ".join(contents.refused))
            return False
        self.opened.emit(list(contents.sources), list(contents.refused))
        return True

    # The window passes its drag events on to these.
    def drag_entered(self, event: QDragEnterEvent) -> None:
        if drops.can_take(event.mimeData()):
            self.view.set_drag_state("accept", "Drop to classify")
        else:
            self.view.set_drag_state(
                "refuse", "This can't be classified.\nDrop image files, folders or image data."
            )
        event.acceptProposedAction()

    def drag_left(self) -> None:
        self.view.set_drag_state(None)

    def dropped(self, event: QDropEvent) -> None:
        self.view.set_drag_state(None)
        if self.open_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()
