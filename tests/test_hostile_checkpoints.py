"""Weights and label files that are wrong in ways a user cannot see: refused at load, clearly."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from core.errors import CheckpointError, LabelsError
from core.model import load_checkpoint, read_labels

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=300,
    )


def _strict_json(line: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)


@pytest.fixture(scope="module")
def zero_class(tmp_path_factory: pytest.TempPathFactory, resnet50_state: dict) -> Path:
    state = dict(resnet50_state)
    state["fc.weight"] = torch.zeros(0, 2048)
    state["fc.bias"] = torch.zeros(0)
    path = tmp_path_factory.mktemp("zero") / "zero_classes.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def nan_weights(tmp_path_factory: pytest.TempPathFactory, resnet50_state: dict) -> Path:
    state = dict(resnet50_state)
    weight = state["layer2.0.conv1.weight"].clone()
    weight[0, 0, 0, 0] = math.nan
    state["layer2.0.conv1.weight"] = weight
    bias = state["fc.bias"].clone()
    bias[3] = math.inf
    state["fc.bias"] = bias
    path = tmp_path_factory.mktemp("nan") / "damaged.pth"
    torch.save(state, path)
    return path


def test_a_head_with_no_classes_is_refused_at_load(zero_class: Path):
    with pytest.raises(CheckpointError, match="no classes"):
        load_checkpoint(zero_class)


def test_a_one_class_head_is_legitimate(tmp_path: Path, resnet50_state: dict, photos):
    state = dict(resnet50_state)
    state["fc.weight"] = torch.zeros(1, 2048)
    state["fc.bias"] = torch.zeros(1)
    path = tmp_path / "one.pth"
    torch.save(state, path)
    out = run_cli("--weights", str(path), "--format", "json", str(photos["coffee"]))
    assert out.returncode == 0, out.stderr
    assert _strict_json(out.stdout)["predictions"][0]["probability"] == 1.0


def test_nan_or_inf_weights_are_refused_as_damaged(nan_weights: Path):
    with pytest.raises(CheckpointError, match=r"damaged.*layer2\.0\.conv1\.weight"):
        load_checkpoint(nan_weights)


@pytest.mark.parametrize("which", ["zero_class", "nan_weights"])
def test_cli_exits_3_with_a_sentence_for_unusable_checkpoints(which: str, request, photos):
    path = request.getfixturevalue(which)
    out = run_cli("--weights", str(path), "--format", "json", str(photos["coffee"]))
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith(f"resnet-classify: {path.name}")
    assert out.stdout == ""


def test_json_output_is_strict_even_for_non_finite_probabilities():
    from core.results import ClassificationResult, Prediction, json_line

    result = ClassificationResult(
        path="x.jpg", predictions=(Prediction(1, 0, "a", math.nan), Prediction(2, 1, "b", math.inf))
    )
    record = _strict_json(json_line(result))
    assert [p["probability"] for p in record["predictions"]] == [None, None]


def _zip_bomb(path: Path, declared_bytes: int) -> Path:
    """A small checkpoint whose one tensor record inflates to `declared_bytes`."""
    numel = declared_bytes // 4
    small = path.with_suffix(".small")
    torch.save({"fc.weight": torch.zeros(numel // 2048, 2048)[:1]}, small)
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data/0"):
                out.writestr(info.filename, bytes(declared_bytes), zipfile.ZIP_DEFLATED)
            else:
                out.writestr(info.filename, data)
    small.unlink()
    return path


def test_a_zip_bomb_checkpoint_is_refused_before_any_tensor_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = _zip_bomb(tmp_path / "bomb.pth", 64 * 1024 * 1024)
    assert path.stat().st_size < 1024 * 1024

    def no_load(*args, **kwargs):
        raise AssertionError("torch.load was called on a zip bomb")

    monkeypatch.setattr(torch, "load", no_load)
    with pytest.raises(CheckpointError, match=r"damaged.*declares"):
        load_checkpoint(path)


def test_a_normal_checkpoint_passes_the_archive_check(checkpoint: Path):
    assert load_checkpoint(checkpoint).num_classes == 1000


# ---- labels ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    [
        {"²": "a"},  # a digit to str.isdigit, not to int()
        {"0": "cat", "1": "dog", "7": "fish"},  # gaps: label 7 for class 2?
        {"-1": "a", "0": "b"},
    ],
)
def test_label_json_with_keys_that_are_not_0_to_n_is_refused(tmp_path: Path, content: dict):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(content))
    with pytest.raises(LabelsError, match=r"labels\.json"):
        read_labels(path)


def test_label_json_with_integer_keys_in_any_order_reads(tmp_path: Path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"1": "dog", "0": "cat", "2": "fish"}))
    assert read_labels(path, 3) == ("cat", "dog", "fish")
