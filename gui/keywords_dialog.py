"""File > Write Keywords…: the threshold, sidecar or embedded, a preview of what will be
written, then the writing with a progress bar. `core.library.keywords` does the work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core import PARENT, KeywordRecord, plan_keywords, write_keywords
from core import escape_undecodable as printable
from gui.file_job import FileJob

if TYPE_CHECKING:
    from core import ClassificationResult
    from gui.unsure import Threshold


class KeywordsDialog(QDialog):
    """Preview first; Write runs on a thread; the report says what could not be written."""

    def __init__(
        self, parent: QWidget, results: Sequence[ClassificationResult], threshold: Threshold
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Write Keywords")
        self.setObjectName("keywordsDialog")
        self.results, self.threshold = list(results), threshold
        self.job: FileJob | None = None
        self.records: list[KeywordRecord] = []

        self.spin = QSpinBox()
        self.spin.setRange(0, 100)
        self.spin.setSuffix(" %")
        self.spin.setValue(round(threshold.value * 100))
        self.spin.setToolTip("Predictions at or above this confidence become keywords")
        self.spin.valueChanged.connect(self._threshold_changed)
        self.sidecar = QRadioButton("XMP sidecar next to each photo (photo.jpg.xmp)")
        self.sidecar.setChecked(True)
        self.embed = QRadioButton("Embedded in the photo (its pixels are not touched)")
        self.preview = QLabel()
        self.preview.setObjectName("keywordsPreview")
        self.preview.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setVisible(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.write_button = self.buttons.addButton("&Write", QDialogButtonBox.ButtonRole.ApplyRole)
        self.write_button.clicked.connect(self.write)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Keywords from predictions at or above:", self.spin)
        form.addRow("Write into:", self.sidecar)
        form.addRow("", self.embed)
        note = QLabel(
            f"Keywords go under “{PARENT}” in the keyword tree. Keywords a person or another "
            "tool wrote stay; writing again replaces only these."
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.preview)
        layout.addWidget(self.progress)
        layout.addWidget(self.report, 1)
        layout.addWidget(self.buttons)
        self.resize(520, 300)
        self.update_preview()

    def mode(self) -> str:
        return "embed" if self.embed.isChecked() else "sidecar"

    def update_preview(self) -> None:
        plan = plan_keywords(self.results, self.threshold.value)
        self.preview.setText(plan.describe()[0].upper() + plan.describe()[1:] + ".")
        self.write_button.setEnabled(plan.photos > 0 and self.job is None)

    def _threshold_changed(self, value: int) -> None:
        self.threshold.set(value / 100)
        self.update_preview()

    def write(self) -> None:
        """Write on a thread; `job.finished` carries the records."""
        threshold, mode, results = self.threshold.value, self.mode(), self.results
        total = len(results)

        def work(progress):
            return list(write_keywords(results, threshold, mode, lambda n: progress(n, total)))

        self.job = FileJob(work, self)
        self.job.progress.connect(self._advance)
        self.job.finished.connect(self._done)
        self.job.failed.connect(lambda message: self._show([message]))
        self.write_button.setEnabled(False)
        self.spin.setEnabled(False)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.job.start()

    def _advance(self, done: int, total: int) -> None:
        self.progress.setValue(done)

    def _done(self, records: list[KeywordRecord]) -> None:
        self.records = records
        written = [r for r in records if r.ok]
        lines = [f"Keywords written for {len(written)} photos."]
        lines += [printable(r.error or "") for r in records if not r.ok]
        self._show(lines)

    def _show(self, lines: list[str]) -> None:
        self.progress.setVisible(False)
        self.report.setPlainText("\n".join(lines))
        self.report.setVisible(True)
