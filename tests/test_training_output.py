"""`resnet-train` with many classes, odd names, a full disk and a shared folder: readable output,
a sentence for every failure, and a model others may read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fake_training import fake_result
from PIL import Image
from test_training import make_class_folders

from core.cli.train import format_summary
from core.teach.class_folders import scan_folder
from core.teach.taught_model import CheckpointSaveError, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def run_train(*args: str, encoding: str = "utf-8", umask: int = 0o022):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": encoding}
    return subprocess.run(
        [sys.executable, "-m", "core.cli.train", *args],
        capture_output=True,
        text=True,
        errors="replace",
        cwd=ROOT,
        env=env,
        timeout=600,
        preexec_fn=lambda: os.umask(umask),
    )


@pytest.fixture(scope="module")
def five_hundred(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many")
    tiny = Image.new("RGB", (8, 8), "red")
    for i in range(500):
        folder = root / f"class{i:03d}"
        folder.mkdir()
        tiny.save(folder / "a.png")
        tiny.save(folder / "b.png")
    return root


def test_500_small_classes_make_a_few_lines_not_500(five_hundred: Path):
    warnings = scan_folder(five_hundred).warnings()
    assert len(warnings) == 1 and "500 classes have fewer than" in warnings[0]
    assert "'class000' (2)" in warnings[0] and "495 more" in warnings[0]
    # the command line says so in a few lines (here it then stops: the backbone is missing)
    out = run_train(str(five_hundred), "-o", "/tmp/never.pth", "--backbone", "/no/backbone.pth")
    assert out.returncode == 3, out.stderr
    assert len(out.stderr.splitlines()) <= 4, out.stderr
    assert "500 classes, 1000 images: class000 (2)," in out.stderr and "480 more" in out.stderr


def test_the_summary_of_500_classes_lists_the_most_confused_pairs_not_the_matrix():
    text = format_summary(fake_result([f"class{i:03d}" for i in range(500)]))
    assert len(text) < 100_000, len(text)
    assert "Most often confused" in text and "class000 taken for class001: 1" in text
    assert "Confusion matrix" not in text
    small = format_summary(fake_result(["cat", "dog"]))
    assert "Confusion matrix (rows: true class, columns: predicted):" in small


def test_skipped_images_are_listed_with_their_class_folder():
    skipped = (
        ("/data/cat/bomb.png", "bomb.png: the image is too large."),
        ("/data/dog/bomb.png", "bomb.png: the image is too large."),
    )
    text = format_summary(fake_result(["cat", "dog"], skipped=skipped))
    assert "  /data/cat/bomb.png: the image is too large." in text
    assert "  /data/dog/bomb.png: the image is too large." in text


def test_a_non_utf8_class_on_a_strict_stdout_trains_and_the_model_honours_the_umask(
    tmp_path: Path, photos: dict[str, Path], checkpoint: Path
):
    data = make_class_folders(tmp_path / "data", photos, per_class=4, classes=("coffee", "rocket"))
    os.rename(data / "coffee", os.fsencode(data) + b"/caf\xe9")
    model = tmp_path / "shared" / "model.pth"
    out = run_train(
        str(data), "-o", str(model), "--backbone", str(checkpoint), "--epochs", "2",
        "--device", "cpu", encoding="utf-8:strict", umask=0o022,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "caf\\xe9" in out.stdout and "Validation accuracy" in out.stdout
    assert stat.S_IMODE(model.stat().st_mode) == 0o644  # others may read a shared model


@pytest.fixture
def full_disk(tmp_path: Path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_the_no_space_sentence_and_the_old_model_stays(full_disk: Path):
    old = full_disk / "model.pth"
    old.write_bytes(b"the good model")
    big = fake_result(["cat", "dog"], state_dict={"fc.weight": torch.ones(2, 200_000)})
    with pytest.raises(CheckpointSaveError, match=r"No space left to save model\.pth"):
        save_checkpoint(big, old)
    assert old.read_bytes() == b"the good model"
    assert [p.name for p in full_disk.iterdir()] == ["model.pth"]  # no part file left


def test_resnet_train_on_a_full_disk_says_so_without_a_traceback(
    tmp_path: Path, photos: dict[str, Path], checkpoint: Path, full_disk: Path
):
    data = make_class_folders(tmp_path / "data", photos, per_class=3, classes=("coffee", "rocket"))
    out = run_train(
        str(data), "-o", str(full_disk / "model.pth"), "--backbone", str(checkpoint),
        "--epochs", "1", "--device", "cpu",
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert "No space left to save model.pth" in out.stderr and "Traceback" not in out.stderr
