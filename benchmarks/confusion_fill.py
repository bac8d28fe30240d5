"""The Teach dialog's 500x500 confusion matrix: one item per cell (before) against a table model
(now), filled and painted in one run, side by side.

    QT_QPA_PLATFORM=offscreen python -m benchmarks.confusion_fill [--classes 500] [--repeats 3]

Prints one JSON line: the median seconds of each way and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QTableView, QTableWidget, QTableWidgetItem

from gui.confusion_model import ConfusionModel


def matrix(n: int) -> tuple[list[str], list[list[int]]]:
    names = [f"class{i:03d}" for i in range(n)]
    return names, [[2 if i == j else int(j == (i + 1) % n) for j in range(n)] for i in range(n)]


def items_way(names: list[str], rows: list[list[int]]) -> float:
    """What the dialog did: a QTableWidgetItem, coloured, per cell."""
    start = time.perf_counter()
    t = QTableWidget()
    t.resize(600, 400)
    t.setRowCount(len(rows))
    t.setColumnCount(len(rows))
    t.setHorizontalHeaderLabels(names)
    t.setVerticalHeaderLabels(names)
    for i, row in enumerate(rows):
        total = sum(row) or 1
        for j, value in enumerate(row):
            item = QTableWidgetItem(str(value))
            base = QColor("#2e8b57") if i == j else QColor("#c0392b")
            base.setAlphaF(0.15 + 0.6 * value / total if value else 0.0)
            item.setBackground(base)
            t.setItem(i, j, item)
    t.grab()
    seconds = time.perf_counter() - start
    t.deleteLater()
    return seconds


def model_way(names: list[str], rows: list[list[int]]) -> float:
    start = time.perf_counter()
    model = ConfusionModel()
    t = QTableView()
    t.resize(600, 400)
    t.setModel(model)
    model.set_matrix(names, rows)
    t.grab()
    seconds = time.perf_counter() - start
    t.deleteLater()
    return seconds


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--classes", type=int, default=500)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    app = QApplication.instance() or QApplication([])
    names, rows = matrix(args.classes)
    before, now = [], []
    for _ in range(args.repeats):  # interleaved, so both meet the same machine
        before.append(items_way(names, rows))
        app.processEvents()
        now.append(model_way(names, rows))
        app.processEvents()
    b, m = statistics.median(before), statistics.median(now)
    print(json.dumps({"classes": args.classes, "items_s": round(b, 3), "model_s": round(m, 4),
                      "ratio": round(b / m, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
