"""Weights and label files that are wrong in ways a user cannot see: refused at load, clearly."""

from __future__ import annotations

import json
import math
import os
import struct
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


# ---- torch's legacy (non-zip) format: read whole, so bounded before torch.load -----------------
def _legacy(path: Path, obj: object) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    return path


def _legacy_bomb(path: Path, declared_items: int) -> Path:
    """A legacy checkpoint of a few hundred bytes whose one storage declares `declared_items`."""
    data = _legacy(path, {"fc.weight": torch.arange(6.0).reshape(2, 3)}).read_bytes()
    count = b"X\x03\x00\x00\x00cpuq\x06K\x06N"  # ..., "cpu", 6 items, None): the persistent id
    assert data.count(count) == 1
    data = data.replace(count, count[:-3] + b"J" + struct.pack("<i", declared_items) + b"N")
    start = data.rindex(struct.pack("<q", 6))  # the storage's own item count, before its bytes
    path.write_bytes(data[:start] + struct.pack("<q", declared_items) + data[start + 8 :])
    return path


def _no_torch_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_load(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", no_load)


def test_a_legacy_checkpoint_declaring_more_than_it_holds_is_refused_before_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = _legacy_bomb(tmp_path / "old.pth", 2**28)  # 1 GiB of floats in under 1 KB
    assert path.stat().st_size < 1024
    _no_torch_load(monkeypatch)
    with pytest.raises(
        CheckpointError, match=r"^old\.pth is damaged or hostile: it declares 1,074 MB"
    ):
        load_checkpoint(path)


def test_a_legacy_checkpoint_too_large_to_read_whole_is_refused_with_a_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import core.checkpoint

    path = _legacy(tmp_path / "old.pth", {"fc.weight": torch.zeros(1000, 2048)})  # 8 MB
    monkeypatch.setattr(core.checkpoint, "MAX_LEGACY_BYTES", 4_000_000)
    _no_torch_load(monkeypatch)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert refused.value.message.startswith("old.pth is an old-format PyTorch file of 8 MB.")
    assert "torch.save" in refused.value.message


def test_a_legacy_checkpoint_with_an_oversized_object_pickle_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import core.checkpoint

    path = _legacy(tmp_path / "old.pth", {"fc.weight": torch.zeros(2, 3), "classes": ["c"] * 5000})
    monkeypatch.setattr(core.checkpoint, "MAX_PICKLE_BYTES", 4096)
    _no_torch_load(monkeypatch)
    with pytest.raises(CheckpointError, match=r"^old\.pth is damaged or hostile"):
        load_checkpoint(path)


def test_a_legacy_resnet50_checkpoint_still_loads_and_classifies_as_the_zip_one(
    tmp_path: Path, resnet50_state: dict, checkpoint: Path, photos
):
    from core.engine import Classifier

    old = _legacy(tmp_path / "old.pth", {"model": resnet50_state, "classes": ["x"] * 1000})
    got = Classifier(load_checkpoint(old), "cpu").classify(photos["coffee"]).predictions
    want = Classifier(load_checkpoint(checkpoint), "cpu").classify(photos["coffee"]).predictions
    assert [p.index for p in got] == [p.index for p in want]
    assert got[0].label == "x"


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
