"""Loading a user's own ResNet50 checkpoint in every shape people save them."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from core.errors import CheckpointError, LabelsError
from core.model import IMAGENET_LABELS, load_checkpoint, load_model, read_labels


@pytest.fixture(scope="module")
def head10_state(resnet50_state: dict) -> dict:
    """A fine-tuned model whose `fc` was replaced by a 10-class head."""
    state = dict(resnet50_state)
    torch.manual_seed(1)
    state["fc.weight"] = torch.randn(10, 2048) * 0.01
    state["fc.bias"] = torch.zeros(10)
    return state


def _same_weights(model: torch.nn.Module, state: dict) -> bool:
    return torch.equal(model.state_dict()["layer4.2.conv3.weight"], state["layer4.2.conv3.weight"])


def test_plain_state_dict_uses_imagenet_labels(checkpoint: Path, resnet50_state: dict):
    loaded = load_checkpoint(checkpoint)
    assert loaded.labels == IMAGENET_LABELS
    assert loaded.num_classes == 1000
    assert _same_weights(loaded.module, resnet50_state)
    assert not loaded.module.training
    assert loaded.preprocess.resize_size == 256 and loaded.preprocess.crop_size == 224


@pytest.mark.parametrize("key", ["state_dict", "model"])
def test_training_checkpoint_and_dataparallel_prefix(
    tmp_path: Path, resnet50_state: dict, key: str
):
    wrapped = OrderedDict((f"module.{k}", v) for k, v in resnet50_state.items())
    path = tmp_path / "train.pt"
    torch.save({key: wrapped, "epoch": 12, "optimizer": {"lr": 0.1}}, path)
    loaded = load_checkpoint(path)
    assert _same_weights(loaded.module, resnet50_state)


def test_safetensors(tmp_path: Path, resnet50_state: dict):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in resnet50_state.items()}, str(path))
    assert _same_weights(load_checkpoint(path).module, resnet50_state)


def test_custom_head_labels_from_file_checkpoint_or_default(tmp_path: Path, head10_state: dict):
    plain = tmp_path / "head10.pth"
    torch.save(head10_state, plain)
    assert load_checkpoint(plain).labels == tuple(f"class {i}" for i in range(10))

    names = [f"flower {i}" for i in range(10)]
    txt = tmp_path / "labels.txt"
    txt.write_text("\n".join(names) + "\n\n")
    assert load_checkpoint(plain, txt).labels == tuple(names)
    js = tmp_path / "labels.json"
    js.write_text(json.dumps(names))
    assert load_checkpoint(plain, js).labels == tuple(names)

    with_names = tmp_path / "head10_named.pth"
    torch.save({"state_dict": head10_state, "class_names": names}, with_names)
    loaded = load_checkpoint(with_names)
    assert loaded.labels == tuple(names)
    assert loaded.module.fc.out_features == 10


def test_labels_count_must_match(tmp_path: Path, checkpoint: Path):
    txt = tmp_path / "three.txt"
    txt.write_text("a\nb\nc\n")
    with pytest.raises(LabelsError, match="3 labels but the model has 1000 classes"):
        load_checkpoint(checkpoint, txt)
    with pytest.raises(LabelsError, match="not found"):
        read_labels(tmp_path / "missing.txt")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    with pytest.raises(LabelsError, match="not valid JSON"):
        read_labels(bad)


def test_mismatch_names_missing_unexpected_and_wrong_shapes(tmp_path: Path, resnet50_state: dict):
    state = dict(resnet50_state)
    del state["layer1.0.conv1.weight"]
    state["extra.weight"] = torch.zeros(3)
    state["conv1.weight"] = torch.zeros(64, 1, 7, 7)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert "1 missing: layer1.0.conv1.weight" in text
    assert "1 unexpected: extra.weight" in text
    assert "conv1.weight (file 64x1x7x7, ResNet50 64x3x7x7)" in text
    assert len(text) < 400


def test_another_architecture_is_refused(tmp_path: Path):
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(CheckpointError, match="does not fit ResNet50"):
        load_checkpoint(path)


class Payload:
    """Stands for code smuggled into a checkpoint; weights_only must refuse it."""

    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("missing.pth", None, "not found"),
        ("empty.pth", lambda p: p.write_bytes(b""), "empty"),
        ("text.pth", lambda p: p.write_text("hello"), "not a PyTorch checkpoint"),
        ("code.pth", lambda p: torch.save({"x": Payload()}, p), "other than tensors"),
        ("list.pth", lambda p: torch.save([torch.zeros(1)], p), "state dict"),
        ("nofc.pth", lambda p: torch.save({"a": torch.zeros(1)}, p), "no classifier layer"),
        ("bad.safetensors", lambda p: p.write_bytes(b"\x08" + b"\x00" * 7 + b"{zz"), "safetensors"),
    ],
)
def test_bad_checkpoints_say_why(tmp_path: Path, name: str, make, words: str, capsys):
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert words in str(err.value)
    assert "this must never run" not in capsys.readouterr().out


def test_truncated_checkpoint(tmp_path: Path, checkpoint: Path):
    data = checkpoint.read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth"):
        load_checkpoint(path)


def test_load_model_prefers_the_users_file(checkpoint: Path):
    assert load_model(checkpoint).source == checkpoint.name
