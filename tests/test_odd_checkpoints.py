"""Checkpoints that are odd rather than broken: each gets a sentence, never a traceback.

Keys that are not names, tensors that are sparse, quantised or float8, class names that do not
fit the model, and a TorchScript archive.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.errors import CheckpointError
from core.model import IMAGENET_LABELS, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=300,
    )


def odd_fc(kind: str, state: dict) -> dict:
    state = dict(state)
    fc = state["fc.weight"]
    if kind == "sparse":
        state["fc.weight"] = fc.to_sparse()
    elif kind == "qint8":
        state["fc.weight"] = torch.quantize_per_tensor(fc, 0.01, 0, torch.qint8)
    elif kind == "float8":
        state["fc.weight"] = fc.to(torch.float8_e4m3fn)
    elif kind == "int key":
        state[5] = torch.zeros(1)
    elif kind == "tuple key":
        state[("fc", "weight")] = state.pop("fc.weight")
    return state


CASES = {
    "sparse": "fc.weight holds a sparse tensor",
    "qint8": "fc.weight holds a quantised tensor (qint8)",
    "float8": "fc.weight holds float8_e4m3fn values",
    "int key": "are not names (such as 5)",
    "tuple key": "are not names (such as ('fc', 'weight'))",
}


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory: pytest.TempPathFactory, resnet50_state: dict) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("odd")
    out = {}
    for kind in CASES:
        out[kind] = folder / f"{kind.replace(' ', '_')}.pth"
        torch.save(odd_fc(kind, resnet50_state), out[kind])
    return out


@pytest.mark.parametrize("kind", list(CASES))
def test_odd_keys_and_tensors_are_refused_with_a_sentence(odd_files: dict[str, Path], kind):
    with pytest.raises(CheckpointError, match=re.escape(CASES[kind])):
        load_checkpoint(odd_files[kind])


def test_the_cli_exits_3_with_the_sentence(odd_files: dict[str, Path], photos):
    for kind in ("qint8", "int key"):
        out = run_cli("--weights", str(odd_files[kind]), str(photos["coffee"]))
        assert out.returncode == 3, out.stderr
        assert CASES[kind] in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("names", "words"),
    [
        (["a"] * 999, "has 999 names for 1000 classes"),
        ([1, 2, 3], "are not a list of names"),
        ("cats and dogs", "are not a list of names"),
    ],
    ids=["999 names", "numbers", "a string"],
)
def test_class_names_that_do_not_fit_are_not_used_and_the_user_is_told(
    tmp_path: Path, resnet50_state: dict, photos, names, words: str
):
    path = tmp_path / "named.pth"
    torch.save({"state_dict": resnet50_state, "class_names": names}, path)
    model = load_checkpoint(path)
    assert model.labels != IMAGENET_LABELS  # not someone else's names either
    assert model.labels[0] == "class 0"
    assert len(model.notes) == 1 and words in model.notes[0]
    out = run_cli("--weights", str(path), "--format", "json", str(photos["coffee"]))
    assert out.returncode == 0, out.stderr
    assert f"warning: named.pth: its class_names {words}" in out.stderr


def test_class_names_that_fit_are_used_without_a_note(tmp_path: Path, resnet50_state: dict):
    path = tmp_path / "named.pth"
    torch.save({"state_dict": resnet50_state, "class_names": [f"n{i}" for i in range(1000)]}, path)
    model = load_checkpoint(path)
    assert model.labels[:2] == ("n0", "n1") and model.notes == ()


def test_a_torchscript_archive_says_save_a_state_dict(tmp_path: Path, photos):
    module = torch.jit.script(torch.nn.Linear(2, 2))
    path = tmp_path / "scripted.pt"
    torch.jit.save(module, str(path))
    with pytest.raises(CheckpointError, match=r"TorchScript archive .*: save a state_dict"):
        load_checkpoint(path)
    out = run_cli("--weights", str(path), str(photos["coffee"]))
    assert out.returncode == 3 and "TorchScript" in out.stderr, out.stderr
    assert "corrupt" not in out.stderr and "Traceback" not in out.stderr
