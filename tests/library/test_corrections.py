"""Corrections that teach: a photo corrected, a model retrained on the corrections and the
examples it was first taught from, and that photo's answer changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.library.corrections import STORE_NAME, CorrectionStore, export_class_folders
from tests.test_cli import ROOT, run_cli


def crops(photo: Path, folder: Path, n: int, seed: int) -> list[Path]:
    """`n` random square crops of `photo` in `folder`, 128 px."""
    rng = np.random.default_rng(seed)
    img = Image.open(photo).convert("RGB")
    w, h = img.size
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        side = int(rng.integers(min(w, h) // 2, min(w, h)))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        path = folder / f"{photo.stem}-{seed}-{i:02d}.jpg"
        img.crop((x, y, x + side, y + side)).resize((128, 128)).save(path, quality=90)
        out.append(path)
    return out


def train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli.train", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip


def top1(checkpoint: Path, photo: Path) -> str:
    out = run_cli("--weights", str(checkpoint), "--format", "json", "--top", "1", str(photo))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["predictions"][0]["label"]


def test_a_correction_retrains_the_model_and_changes_that_photos_answer(
    tmp_path: Path, photos: dict[str, Path], checkpoint: Path
):
    examples = tmp_path / "examples"
    for name in ("chelsea", "coffee", "rocket"):
        crops(photos[name], examples / name, 6, seed=1)
    taught = tmp_path / "taught.pth"
    first = train(
        str(examples), "-o", str(taught), "--backbone", str(checkpoint), "--device", "cpu"
    )
    assert first.returncode == 0, first.stderr
    assert "If a top-1 under a threshold is unsure" in first.stdout

    album = tmp_path / "album"
    new = crops(photos["astronaut"], album, 6, seed=2)
    before = top1(taught, new[0])
    assert before in ("chelsea", "coffee", "rocket")  # it knows no astronaut yet

    corrected = run_cli("--correct", "astronaut", *map(str, new))
    assert corrected.returncode == 0, corrected.stderr
    assert CorrectionStore(album).get(new[0]) == "astronaut"  # kept in the folder
    assert (album / STORE_NAME).is_file()

    retaught = tmp_path / "retaught.pth"
    again = train(
        str(album), "--from-corrections", "-o", str(retaught), "--backbone", str(taught),
        "--device", "cpu",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "Taught 4 classes from 24 images" in again.stderr  # 6 corrections + 18 examples
    assert "held-out accuracy" in again.stderr and "before" in again.stderr
    assert top1(retaught, new[0]) == "astronaut"


def test_the_store_survives_a_restart_and_exports_as_class_folders(tmp_path: Path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    store = CorrectionStore(tmp_path)
    store.set(a, "tabby cat")
    store.set(b, "dog/wolf")
    store.remove(b)
    store.set(b, "dog")
    reopened = CorrectionStore(tmp_path)  # as after a restart
    assert reopened.get(a) == "tabby cat" and reopened.get(b) == "dog"
    counts = export_class_folders(reopened.items(), tmp_path / "out")
    assert counts == {"dog": 1, "tabby cat": 1}
    assert (tmp_path / "out" / "tabby cat" / "a.jpg").read_bytes() == b"a"
    assert not (tmp_path / "out" / "tabby cat" / "a.jpg").is_symlink()


def test_empty_class_name_is_refused(tmp_path: Path):
    from core.library.corrections import CorrectionsError

    with pytest.raises(CorrectionsError, match="cannot be empty"):
        CorrectionStore(tmp_path).set(tmp_path / "a.jpg", "  ")


def test_the_command_line_records_corrections_and_exports_them_as_class_folders(
    tmp_path: Path, photos: dict[str, Path]
):
    album = tmp_path / "album"
    album.mkdir()
    for name in ("chelsea", "coffee", "rocket"):
        (album / photos[name].name).write_bytes(photos[name].read_bytes())
    cats = [album / photos["chelsea"].name]
    things = [album / photos["coffee"].name, album / photos["rocket"].name]
    assert run_cli("--correct", "tabby cat", *map(str, cats)).returncode == 0
    done = run_cli("--correct", "thing", *map(str, things), str(album / "missing.jpg"))
    assert done.returncode == 1  # a path that is not a photo: said, and the others recorded
    assert "2 photos recorded as thing" in done.stderr

    out = tmp_path / "corrected"
    exported = run_cli("--export-corrections", str(out), str(album))
    assert exported.returncode == 0, exported.stderr
    assert "exported corrections: tabby cat 1, thing 2." in exported.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        f"tabby cat/{photos['chelsea'].name}",
        f"thing/{photos['coffee'].name}",
        f"thing/{photos['rocket'].name}",
    ]
    assert (out / "thing" / photos["coffee"].name).read_bytes() == photos["coffee"].read_bytes()
