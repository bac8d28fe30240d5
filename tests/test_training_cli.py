"""`resnet-train` as a user runs it: a separate process, its summary and its exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_training import make_class_folders

ROOT = Path(__file__).resolve().parent.parent


def run(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_train_then_classify_with_the_result(
    tmp_path: Path, photos: dict[str, Path], checkpoint: Path
):
    data = make_class_folders(tmp_path / "data", photos, per_class=4, classes=("coffee", "rocket"))
    model = tmp_path / "out" / "my_model.pth"
    out = run(
        "core.cli.train", str(data), "-o", str(model), "--backbone", str(checkpoint),
        "--epochs", "3", "--augment", "0", "--device", "cpu", "--seed", "1",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "2 classes, 8 images: coffee (4), rocket (4)" in out.stderr
    assert "'coffee' has only 4 images" in out.stderr  # warned, still trained
    assert out.stdout.startswith("Validation accuracy: ")
    assert "Confusion matrix (rows: true class, columns: predicted):" in out.stdout
    rows = out.stdout.split("Confusion matrix")[0]
    assert "coffee" in rows and "rocket" in rows and "%" in rows
    assert model.is_file()

    classified = run(
        "core", "--weights", str(model), "--format", "json", str(data / "coffee" / "000.jpg")
    )
    assert classified.returncode == 0, classified.stderr
    labels = [p["label"] for p in json.loads(classified.stdout)["predictions"]]
    assert sorted(labels) == ["coffee", "rocket"]


@pytest.mark.parametrize(
    ("make", "args", "code", "words"),
    [
        ("one_class", [], 2, "at least two are needed"),
        ("missing", [], 2, "is not a folder"),
        ("ok", ["--val-split", "1.2"], 2, "--val-split"),
        ("ok", ["--backbone", "/no/such/backbone.pth"], 3, "not found"),
    ],
)
def test_errors_have_their_exit_codes(
    tmp_path: Path, photos: dict[str, Path], make: str, args: list[str], code: int, words: str
):
    data = tmp_path / "data"
    if make == "one_class":
        make_class_folders(data, photos, per_class=2, classes=("coffee",))
    elif make == "ok":
        make_class_folders(data, photos, per_class=2, classes=("coffee", "rocket"))
    out = run("core.cli.train", str(data), "-o", str(tmp_path / "m.pth"), *args)
    assert out.returncode == code, out.stderr
    assert words in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "m.pth").exists()


def test_offline_advice_names_backbone_and_unreadable_files_are_not_logged(
    tmp_path: Path, photos: dict[str, Path], checkpoint: Path
):
    data = make_class_folders(tmp_path / "data", photos, per_class=3, classes=("coffee", "rocket"))
    (data / "coffee" / "broken.jpg").write_bytes(b"not an image")
    env = {
        "TORCH_HOME": str(tmp_path / "torch_home"),
        "RESNET_CLASSIFIER_WEIGHTS_DIR": str(tmp_path / "nothing"),
        "RESNET_CLASSIFIER_WEIGHTS_URL": "http://127.0.0.1:9",
    }
    offline = run("core.cli.train", str(data), "-o", str(tmp_path / "m.pth"), env=env)
    assert offline.returncode == 3
    assert "--backbone FILE" in offline.stderr and "--weights" not in offline.stderr
    assert "resnet50-11ad3fa6.pth" in offline.stderr

    trained = run(
        "core.cli.train", str(data), "-o", str(tmp_path / "m.pth"), "--backbone", str(checkpoint),
        "--epochs", "2", "--device", "cpu",
    )  # fmt: skip
    assert trained.returncode == 1  # saved, one file unreadable
    assert "WARNING" not in trained.stderr, trained.stderr
    assert "broken.jpg" in trained.stdout  # the summary names it, once


def test_from_corrections_honours_no_refit(
    tmp_path: Path, photos: dict[str, Path], checkpoint: Path
):
    from core.library.corrections import CorrectionStore

    data = make_class_folders(tmp_path / "data", photos, per_class=4, classes=("coffee", "rocket"))
    album = tmp_path / "album"
    album.mkdir()
    store = CorrectionStore(album)
    for photo in sorted(data.glob("*/*.jpg")):
        (album / f"{photo.parent.name}-{photo.name}").write_bytes(photo.read_bytes())
        store.set(album / f"{photo.parent.name}-{photo.name}", photo.parent.name)
    out = run(
        "core.cli.train", str(album), "--from-corrections", "--no-refit", "-o",
        str(tmp_path / "m.pth"), "--backbone", str(checkpoint), "--epochs", "2", "--device", "cpu",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Validation accuracy: ")
    assert "then learned from all" not in out.stdout  # the model of the training images only
