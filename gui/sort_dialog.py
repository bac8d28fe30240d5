"""File > Sort Into Folders…: where, copy or move, the threshold; the plan is shown before
anything moves; then the sort with a progress bar, and Undo. `core.library.sorting` does the
work and keeps the journal that Undo reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core import SortPlan, SortReport, UndoReport, execute, plan_sort, undo
from core import escape_undecodable as printable
from gui.file_job import FileJob

if TYPE_CHECKING:
    from core import ClassificationResult
    from gui.unsure import Threshold

PLAN_LINES = 500  # lines of the plan shown; the counts cover every file


class SortDialog(QDialog):
    def __init__(
        self,
        parent: QWidget,
        results: Sequence[ClassificationResult],
        threshold: Threshold,
        out: str,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sort Into Folders")
        self.setObjectName("sortDialog")
        self.results, self.threshold = list(results), threshold
        self.plan: SortPlan | None = None
        self.report: SortReport | None = None
        self.job: FileJob | None = None

        self.out = QLineEdit(out)
        self.out.setObjectName("sortOut")
        self.out.editingFinished.connect(self.update_plan)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.out, 1)
        where.addWidget(browse)
        self.copy_radio = QRadioButton("Copy (the photos stay where they are)")
        self.copy_radio.setChecked(True)
        self.move_radio = QRadioButton("Move")
        self.copy_radio.toggled.connect(self.update_plan)
        self.spin = QSpinBox()
        self.spin.setRange(0, 100)
        self.spin.setSuffix(" %")
        self.spin.setValue(round(threshold.value * 100))
        self.spin.setToolTip("Photos whose top-1 is under this go to unsure/")
        self.spin.valueChanged.connect(lambda v: (threshold.set(v / 100), self.update_plan()))
        self.summary = QLabel()
        self.summary.setObjectName("sortSummary")
        self.summary.setWordWrap(True)
        self.view = QPlainTextEdit()
        self.view.setObjectName("sortPlan")
        self.view.setReadOnly(True)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.sort_button = self.buttons.addButton("&Sort", QDialogButtonBox.ButtonRole.ApplyRole)
        self.sort_button.clicked.connect(self.sort)
        self.undo_button = self.buttons.addButton("&Undo", QDialogButtonBox.ButtonRole.ResetRole)
        self.undo_button.setToolTip("Put every file back where it was (checked by content)")
        self.undo_button.clicked.connect(self.undo)
        self.undo_button.setVisible(False)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Into the folder:", where)
        form.addRow("", self.copy_radio)
        form.addRow("", self.move_radio)
        form.addRow("Unsure under:", self.spin)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)
        self.resize(720, 460)
        self.update_plan()

    def mode(self) -> str:
        return "copy" if self.copy_radio.isChecked() else "move"

    def update_plan(self) -> None:
        """The plan for the current choices: counts per folder, then one line per file."""
        if self.job is not None:
            return
        out = self.out.text().strip()
        if not out:
            self.plan = None
            self.summary.setText("Choose the folder to sort into.")
            self.view.clear()
            self.sort_button.setEnabled(False)
            return
        self.plan = plan_sort(self.results, out, self.threshold.value, self.mode())
        folders = ", ".join(f"{name} {n}" for name, n in self.plan.folders().items())
        photos = sum(self.plan.folders().values())
        self.summary.setText(
            f"Plan: {self.mode()} {photos} photos into {len(self.plan.folders())} folders "
            f"({printable(folders)}). Nothing is touched until you click Sort."
        )
        lines = [
            f"{Path(p.src).name}  →  {Path(p.dst).parent.name}/{Path(p.dst).name}"
            + (f"   ({p.reason})" if p.reason else "")
            for p in self.plan.placements[:PLAN_LINES]
        ]
        if len(self.plan.placements) > PLAN_LINES:
            lines.append(f"… and {len(self.plan.placements) - PLAN_LINES} more")
        self.view.setPlainText(printable("\n".join(lines)))
        self.sort_button.setEnabled(bool(self.plan.placements))

    def sort(self) -> None:
        if self.plan is None:
            return
        plan = self.plan
        self._start(lambda progress: execute(plan, progress), self._sorted, len(plan.placements))

    def undo(self) -> None:
        if self.report is not None:
            journal = self.report.journal
            self._start(lambda _progress: undo(journal), self._undone, 0)

    def _start(self, work, done, total: int) -> None:
        self.job = FileJob(work, self)
        self.job.progress.connect(lambda n, _t: self.progress.setValue(n))
        self.job.finished.connect(done)
        self.job.failed.connect(self._failed)
        for widget in (self.sort_button, self.undo_button, self.spin, self.out):
            widget.setEnabled(False)
        self.progress.setRange(0, total)  # 0: busy, no count
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.job.start()

    def _sorted(self, report: SortReport) -> None:
        self.job, self.report = None, report
        self.progress.setVisible(False)
        failed = f" {len(report.failed)} could not be placed." if report.failed else ""
        verb = "copied" if self.mode() == "copy" else "moved"
        self.summary.setText(
            f"Done: {report.done} files {verb}.{failed} The journal is "
            f"{printable(report.journal)}; Undo (here, or resnet-classify --undo) reads it."
        )
        if report.failed:
            self.view.setPlainText(printable("\n".join(report.failed)))
        self.undo_button.setVisible(True)
        self.undo_button.setEnabled(True)

    def _undone(self, report: UndoReport) -> None:
        self.job = None
        self.progress.setVisible(False)
        self.summary.setText(f"Undone: {report.restored} files put back.")
        self.view.setPlainText(printable("\n".join(report.problems)))
        self.undo_button.setEnabled(False)
        self.out.setEnabled(True)
        self.spin.setEnabled(True)

    def _failed(self, message: str) -> None:
        self.job = None
        self.progress.setVisible(False)
        self.summary.setText(message)
        self.out.setEnabled(True)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Sort Into", self.out.text())
        if folder:
            self.out.setText(folder)
            self.update_plan()
