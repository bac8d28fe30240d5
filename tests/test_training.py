"""Teaching new classes: a folder of class folders in, a checkpoint that classifies them out.

The backbone is the session's random-weights ResNet50: its features still tell crops of
different photos apart, which is what a linear head on top needs.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from core.cli.train import format_summary
from core.errors import Cancelled
from core.teach.training import (
    CheckpointSaveError,
    Progress,
    TrainingDataError,
    TrainingOptions,
    TrainingResult,
    save_checkpoint,
    scan_folder,
    train,
)

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("chelsea", "coffee", "rocket")


def make_class_folders(
    root: Path, photos: dict[str, Path], per_class: int, classes=CLASSES, seed: int = 0
) -> Path:
    """`root/<photo>/NNN.jpg`: random square crops of each photo, 128 px."""
    rng = np.random.default_rng(seed)
    for name in classes:
        img = Image.open(photos[name]).convert("RGB")
        w, h = img.size
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            side = int(rng.integers(min(w, h) // 3, min(w, h)))
            x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            crop = img.crop((x, y, x + side, y + side)).resize((128, 128))
            crop.save(folder / f"{i:03d}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def album(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """Three classes of ten crops, and a damaged file among the rockets."""
    root = make_class_folders(tmp_path_factory.mktemp("album"), photos, per_class=10)
    (root / "rocket" / "zz_damaged.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a real jpeg")
    (root / "rocket" / "notes.txt").write_text("not an image: ignored")
    return root


@pytest.fixture(scope="module")
def taught(album: Path, checkpoint: Path) -> TrainingResult:
    options = TrainingOptions(device="cpu", seed=1, augment_passes=1)  # augmentation covered
    return train(album, options, backbone=checkpoint)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """Two classes of three images: enough to run every step quickly."""
    return make_class_folders(
        tmp_path_factory.mktemp("tiny"), photos, per_class=3, classes=("chelsea", "rocket")
    )


# ---- learning --------------------------------------------------------------------------------
def test_learns_three_classes_well_above_chance_on_held_out_images(taught: TrainingResult):
    assert taught.class_names == CLASSES
    assert taught.val_counts == (2, 2, 2)  # 20% of each class, the readable rockets included
    assert taught.train_counts == (8, 8, 8)
    assert taught.val_accuracy >= 0.8, taught.confusion  # chance is 1/3
    assert [sum(row) for row in taught.confusion] == list(taught.val_counts)
    assert len(taught.per_class_accuracy) == 3
    assert 1 <= taught.best_epoch <= len(taught.history) <= 30
    first = taught.history[0]
    assert 0 <= first.train_accuracy <= 1 and first.val_loss > 0


def test_coverage_and_accuracy_at_an_unsure_threshold_on_held_out_images(taught):
    assert len(taught.held_out) == sum(taught.val_counts)
    everything = taught.at_threshold(0.0)
    assert everything.coverage == 1.0 and everything.unsure == 0.0
    assert everything.accuracy == pytest.approx(taught.val_accuracy)
    top = max(p for p, _ in taught.held_out)
    assert taught.at_threshold(top + 1e-6).coverage == 0.0
    # the most confident half: its accuracy is what the user is told for that threshold
    median = sorted(p for p, _ in taught.held_out)[len(taught.held_out) // 2]
    half = taught.at_threshold(median)
    kept = [ok for p, ok in taught.held_out if p >= median]
    assert half.coverage == len(kept) / len(taught.held_out)
    assert half.accuracy == sum(kept) / len(kept)
    assert taught.thresholds_text().splitlines()[0].startswith("at 50%: ")


def test_a_damaged_image_is_skipped_and_reported(taught: TrainingResult):
    assert [Path(p).name for p, _ in taught.skipped] == ["zz_damaged.jpg"]
    assert "zz_damaged.jpg" in taught.skipped[0][1]


def test_misclassified_images_are_the_confusion_matrix_off_its_diagonal(taught: TrainingResult):
    off_diagonal = sum(
        v for i, row in enumerate(taught.confusion) for j, v in enumerate(row) if i != j
    )
    assert len(taught.misclassified) == off_diagonal
    for m in taught.misclassified:
        assert Path(m.path).parent.name == m.true_label != m.predicted_label


def test_the_saved_model_then_learned_from_the_held_out_images_too(
    taught: TrainingResult, album: Path, checkpoint: Path, tmp_path: Path
):
    assert taught.refit_epochs == taught.best_epoch  # as many epochs as held-out chose
    held_out = train(album, replace(taught.options, refit_on_all=False), backbone=checkpoint)
    assert held_out.refit_epochs == 0
    # the accuracy reported is the same honest one, measured by the model that never saw them
    assert held_out.history == taught.history and held_out.val_accuracy == taught.val_accuracy
    assert not torch.equal(held_out.state_dict["fc.weight"], taught.state_dict["fc.weight"])
    assert "then learned from all 30 images" in format_summary(taught)
    assert "learned from all" not in format_summary(held_out)
    meta = torch.load(save_checkpoint(taught, tmp_path / "m.pth"), weights_only=True)["meta"]
    assert meta["refit_on_all_images_epochs"] == taught.best_epoch


# ---- the checkpoint --------------------------------------------------------------------------
def test_checkpoint_loads_strictly_into_plain_torchvision(taught: TrainingResult, tmp_path: Path):
    path = save_checkpoint(taught, tmp_path / "mine.pth")
    saved = torch.load(path, weights_only=True)
    model = torchvision.models.resnet50(num_classes=3)
    model.load_state_dict(saved["state_dict"], strict=True)
    assert saved["class_names"] == list(CLASSES)
    meta = saved["meta"]
    assert meta["val_accuracy"] == taught.val_accuracy
    assert meta["preprocess"]["crop_size"] == 224 and meta["backbone"].endswith(".pth")
    assert not list(tmp_path.glob("*.part"))


def test_resnet_classify_uses_the_taught_model_with_its_class_names(
    taught: TrainingResult, tmp_path: Path, photos: dict[str, Path]
):
    path = save_checkpoint(taught, tmp_path / "mine.pth")
    fresh = make_class_folders(tmp_path / "new", photos, per_class=2, seed=99)
    images = sorted(str(p) for p in fresh.rglob("*.jpg"))
    out = subprocess.run(
        [sys.executable, "-m", "core", "--weights", str(path), "--format", "json", *images],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    tops = [r["predictions"][0]["label"] for r in records]
    assert set(tops) <= set(CLASSES)
    right = sum(top == Path(r["path"]).parent.name for top, r in zip(tops, records, strict=True))
    assert right >= 4, tops  # of 6 photos it never saw


def test_no_space_left_is_a_clear_error_and_leaves_no_partial_file(
    taught: TrainingResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def full_disk(obj, f):
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointSaveError, match="No space left"):
        save_checkpoint(taught, tmp_path / "mine.pth")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_written_is_a_clear_error(taught: TrainingResult, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(CheckpointSaveError, match="Cannot save"):
        save_checkpoint(taught, blocker / "mine.pth")


# ---- options, determinism, cancel ------------------------------------------------------------
def test_same_seed_same_model_and_fine_tuning_trains_layer4(tiny: Path, checkpoint: Path):
    opts = TrainingOptions(device="cpu", epochs=2, seed=3, fine_tune=True, val_split=0.3)
    first = train(tiny, opts, backbone=checkpoint)
    again = train(tiny, opts, backbone=checkpoint)
    assert first.history == again.history
    assert torch.equal(first.state_dict["fc.weight"], again.state_dict["fc.weight"])
    backbone = torch.load(checkpoint, weights_only=True)
    key = "layer4.2.conv3.weight"
    assert not torch.equal(first.state_dict[key], backbone[key])
    assert torch.equal(first.state_dict["layer3.0.conv1.weight"], backbone["layer3.0.conv1.weight"])
    torchvision.models.resnet50(num_classes=2).load_state_dict(first.state_dict, strict=True)


def test_cancel_stops_training_with_cancelled(tiny: Path, checkpoint: Path):
    cancel = threading.Event()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.stage == "features":
            cancel.set()

    with pytest.raises(Cancelled):
        train(
            tiny,
            TrainingOptions(device="cpu"),
            backbone=checkpoint,
            progress=progress,
            cancel=cancel,
        )
    assert not any(p.stage == "training" for p in seen)


# ---- folders that cannot be taught from ------------------------------------------------------
def test_fewer_than_two_classes_is_refused(tmp_path: Path, photos: dict[str, Path]):
    make_class_folders(tmp_path, photos, per_class=2, classes=("chelsea",))
    with pytest.raises(TrainingDataError, match="at least two"):
        scan_folder(tmp_path)
    with pytest.raises(TrainingDataError, match="sub-folders, one per class"):
        scan_folder(tmp_path / "chelsea")


def test_a_class_folder_without_images_is_named(tmp_path: Path, photos: dict[str, Path]):
    make_class_folders(tmp_path, photos, per_class=2, classes=("chelsea", "coffee"))
    (tmp_path / "dogs").mkdir()
    (tmp_path / "dogs" / "readme.txt").write_text("no images yet")
    with pytest.raises(TrainingDataError, match="'dogs' has no images"):
        scan_folder(tmp_path)


def test_a_class_whose_images_are_all_unreadable_is_named(
    tmp_path: Path, photos: dict[str, Path], checkpoint: Path
):
    make_class_folders(tmp_path, photos, per_class=2, classes=("chelsea", "coffee"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.jpg").write_bytes(b"\xff\xd8 nope")
    with pytest.raises(TrainingDataError, match="No image in 'broken' could be read"):
        train(tmp_path, TrainingOptions(device="cpu", augment_passes=0), backbone=checkpoint)


def test_tiny_and_unbalanced_classes_are_warned_about(tmp_path: Path, photos: dict[str, Path]):
    make_class_folders(tmp_path, photos, per_class=12, classes=("chelsea",))
    make_class_folders(tmp_path, photos, per_class=3, classes=("coffee",))
    folders = scan_folder(tmp_path)
    assert [(c.name, c.count) for c in folders.classes] == [("chelsea", 12), ("coffee", 3)]
    text = " ".join(folders.warnings())
    assert "'coffee' has only 3 images" in text and "unbalanced" in text


def test_options_out_of_range_are_refused():
    with pytest.raises(ValueError, match="val_split"):
        TrainingOptions(val_split=1.5)
    with pytest.raises(ValueError, match="epochs"):
        TrainingOptions(epochs=0)
