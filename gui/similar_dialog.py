"""Find Similar: the photos of the folder closest to one photo, by the engine's pooled
features (`core.library.similar`), most alike first; picking one shows it in the window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

ICON_SIDE = 40


class SimilarDialog(QDialog):
    picked = Signal(int)  # the item index of the photo chosen

    def __init__(self, parent: QWidget, name: str, rows: list[tuple[int, str, float, Any]]) -> None:
        """`rows`: (item index, name, similarity, thumbnail pixmap or None), best first."""
        super().__init__(parent)
        self.setWindowTitle("Find Similar")
        self.setObjectName("similarDialog")
        self.title = QLabel(f"The photos most like {Path(name).name}:")
        self.title.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("similarList")
        self.list.setIconSize(QSize(ICON_SIDE, ICON_SIDE))
        for index, other, similarity, pixmap in rows:
            item = QListWidgetItem(f"{similarity:.4f}   {Path(other).name}")
            item.setToolTip(other)
            item.setData(256, index)
            if isinstance(pixmap, QPixmap) and not pixmap.isNull():
                item.setIcon(QIcon(pixmap))
            self.list.addItem(item)
        if not rows:
            self.title.setText(
                f"No other photo to compare {Path(name).name} with: classify a folder first."
            )
        # a click or Enter shows that photo (not the current item Qt picks when the list opens)
        self.list.itemClicked.connect(lambda item: self.picked.emit(item.data(256)))
        self.list.itemActivated.connect(lambda item: self.picked.emit(item.data(256)))
        note = QLabel("Similarity of the model's features (1 = the same picture).")
        note.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addWidget(note)
        self.resize(420, 460)

    def names(self) -> list[str]:
        return [self.list.item(i).toolTip() for i in range(self.list.count())]
