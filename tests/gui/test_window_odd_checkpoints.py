"""Odd checkpoints in the window: a sentence where there was "Something went wrong", and a
notice when the class names it stores cannot be used."""

from __future__ import annotations

from pathlib import Path

import torch
from dnd import MODEL_TIMEOUT_MS


def test_a_qint8_checkpoint_is_a_model_problem_with_a_sentence(
    qtbot, make_window, tmp_path: Path, resnet50_state: dict
):
    state = dict(resnet50_state)
    state["fc.weight"] = torch.quantize_per_tensor(state["fc.weight"], 0.01, 0, torch.qint8)
    path = tmp_path / "quantised.pth"
    torch.save(state, path)
    window = make_window(weights=str(path))
    unexpected = []
    window.workerError.connect(unexpected.append)
    with qtbot.waitSignal(window.modelProblem, timeout=MODEL_TIMEOUT_MS) as problem:
        window.start()
    assert "fc.weight holds a quantised tensor (qint8)" in problem.args[0]
    assert unexpected == []


def test_class_names_that_do_not_fit_are_not_shown_and_the_window_says_why(
    qtbot, make_window, tmp_path: Path, resnet50_state: dict
):
    path = tmp_path / "named.pth"
    torch.save({"state_dict": resnet50_state, "class_names": ["cat"] * 999}, path)
    window = make_window(weights=str(path))
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS) as ready:
        window.start()
    info = ready.args[0]
    assert info.labels[0] == "class 0"
    qtbot.waitUntil(window.notice.isVisible)
    assert "has 999 names for 1000 classes" in window.notice.text()
