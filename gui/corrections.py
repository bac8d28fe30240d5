"""Corrections in the window: correcting a row, what the table shows of it, and Teach from
Corrections (retrain, load the new model, re-classify, say what changed).

The corrections are `core.library.corrections` stores, one per folder; the retraining is
`core.library.reteach`, run on a thread of its own (`FileJob`); the new model is then loaded
as any checkpoint is, which re-classifies the items.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from core import ClassifierError, CorrectionStore
from gui.file_job import FileJob

if TYPE_CHECKING:
    from gui.items import Item
    from gui.session import Session


class Corrections(QObject):
    """The corrections of the current items' folders, and the retraining on them."""

    changed = Signal()  # a correction was made: the table repaints its row
    said = Signal(str)  # a line for the status bar
    failed = Signal(str, str)  # title, message
    taught = Signal(str)  # the note: what teaching changed, once the folder is re-classified

    def __init__(self, session: Session, load_weights: Any, parent: QObject) -> None:
        super().__init__(parent)
        self.session, self.load_weights = session, load_weights
        self.stores: dict[Path, CorrectionStore] = {}
        self.job: FileJob | None = None
        self._before: dict[str, str] | None = None  # top-1 by item, while re-classifying
        self._retaught: Any = None
        self.note = ""
        session.items.expanded.connect(self._reload)
        session.run.runFinished.connect(self._after_reclassify)

    # ---- the store -------------------------------------------------------------------
    def labels(self) -> dict[str, str]:
        """Item name -> the class a person gave it, for the current items."""
        out = {}
        for item in self.session.items:
            store = self._store(item)
            if store is not None and (label := store.get(item.name)) is not None:
                out[item.name] = label
        return out

    def correct(self, index: int, label: str) -> bool:
        """Record that item `index` is `label`; False (and `failed`) if it cannot be kept."""
        item = self.session.items[index]
        store = self._store(item)
        if store is None:
            self.failed.emit("No correction", "A pasted image has no folder to keep it in.")
            return False
        try:
            store.set(item.name, label)
        except ClassifierError as exc:
            self.failed.emit("The correction was not saved", exc.message)
            return False
        self.changed.emit()
        return True

    def count(self) -> int:
        return sum(len(s.items()) for s in self.stores.values())

    def _store(self, item: Item) -> CorrectionStore | None:
        if not isinstance(item.source, str | Path) or not Path(item.name).is_file():
            return None
        folder = Path(item.name).parent
        if folder not in self.stores:
            self.stores[folder] = CorrectionStore(folder)
        return self.stores[folder]

    def _reload(self, *_: object) -> None:
        self.stores.clear()
        self.changed.emit()

    # ---- teaching ----------------------------------------------------------------------
    def teach(self, models_dir: str | None = None) -> None:
        """Retrain on every correction of the current folders; the model in use is the start."""
        if self.job is not None:
            return
        corrections = [c for s in self.stores.values() for c in s.items()]
        if not corrections:
            self.failed.emit("Nothing to teach from", "Correct or accept some photos first.")
            return
        from core import teach_from_corrections

        folder = Path(models_dir or _models_dir())
        out = folder / f"corrections-{time.strftime('%Y%m%d-%H%M%S')}.pth"
        backbone = self.session.model_state.weights
        self.job = FileJob(lambda _p: teach_from_corrections(corrections, backbone, out), self)
        self.job.finished.connect(self._taught)
        self.job.failed.connect(self._teach_failed)
        self.job.crashed.connect(lambda summary, _d: self._teach_failed(summary))
        self.said.emit(f"Teaching from {len(corrections)} corrections…")
        self.job.start()

    def _taught(self, retaught: Any) -> None:
        self.job = None
        self._retaught = retaught
        self._before = {
            i.name: i.result.top.label
            for i in self.session.items
            if i.result is not None and i.result.ok and i.result.top is not None
        }
        self.said.emit(f"{retaught.describe()}. Re-classifying…")
        self.load_weights(retaught.path)

    def _teach_failed(self, message: str) -> None:
        self.job = None
        self.failed.emit("Teaching from corrections failed", message)

    def _after_reclassify(self) -> None:
        if self._before is None or self.session.run.running():
            return
        before, self._before = self._before, None
        after = {
            i.name: i.result.top.label
            for i in self.session.items
            if i.result is not None and i.result.ok and i.result.top is not None
        }
        changed = sum(1 for name, label in after.items() if before.get(name) != label)
        self.note = f"{changed} of {len(after)} predictions changed. {self._retaught.describe()}."
        self.said.emit(self.note)
        self.taught.emit(self.note)


def _models_dir() -> str:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return str(Path(base) / "taught")


class CorrectDialog(QDialog):
    """The right class for one photo: one of the model's classes, or a new name typed in."""

    def __init__(self, parent: QWidget, name: str, labels: tuple[str, ...], current: str) -> None:
        super().__init__(parent)
        self.setWindowTitle("Correct")
        self.setObjectName("correctDialog")
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.addItems(list(labels))
        self.combo.setCurrentText(current)
        self.combo.setToolTip("Pick a class of the model, or type a new class name")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"What is in {Path(name).name}?"))
        layout.addWidget(self.combo)
        layout.addWidget(buttons)

    def label(self) -> str:
        return self.combo.currentText().strip()
