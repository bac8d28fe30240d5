"""XMP keywords as other tools read them: exiftool (not ours) reads back what we wrote."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.library.keywords import PARENT, plan_keywords, sidecar_path, write_keywords, write_one
from core.results import ClassificationResult, Prediction
from tests.test_cli import run_cli

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")


def exif_keywords(path: Path) -> tuple[list[str], list[str]]:
    """Subject and HierarchicalSubject as exiftool reads them (lists, even of one)."""
    out = subprocess.run(
        ["exiftool", "-j", "-XMP:Subject", "-XMP:HierarchicalSubject", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    (record,) = json.loads(out.stdout)

    def as_list(value: object) -> list[str]:
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    return as_list(record.get("Subject")), as_list(record.get("HierarchicalSubject"))


def result(path: Path, *pairs: tuple[str, float]) -> ClassificationResult:
    return ClassificationResult(
        str(path), tuple(Prediction(r + 1, r, lab, p) for r, (lab, p) in enumerate(pairs))
    )


@pytest.fixture
def album(tmp_path: Path, photos: dict[str, Path]) -> Path:
    for name in ("chelsea", "coffee", "rocket"):
        shutil.copy(photos[name], tmp_path / photos[name].name)
    return tmp_path


def test_cli_writes_sidecars_exiftool_reads(checkpoint: Path, album: Path):
    out = run_cli(
        "--weights", str(checkpoint), "--format", "json", "--top", "3",
        "--write-keywords", "--min-confidence", "0", str(album),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        record = json.loads(line)
        labels = [p["label"] for p in record["predictions"]]
        sidecar = Path(record["path"] + ".xmp")  # photo.jpg.xmp, as digiKam names it
        subject, tree = exif_keywords(sidecar)
        assert subject == labels
        assert tree == [f"{PARENT}|{label}" for label in labels]
    assert "0 of 3 photos unsure" in out.stderr


def test_embedding_keeps_every_decoded_pixel(album: Path):
    for name in ("chelsea.jpg", "coffee.png"):
        photo = album / name
        before = np.asarray(Image.open(photo).convert("RGB"))
        record = write_one(str(photo), ["tabby", "Egyptian cat"], "embed")
        assert record.ok, record.error
        assert not sidecar_path(photo).exists()
        assert exif_keywords(photo)[0] == ["tabby", "Egyptian cat"]
        assert np.array_equal(np.asarray(Image.open(photo).convert("RGB")), before)


def test_merge_keeps_others_keywords_and_a_rerun_replaces_only_ours(album: Path):
    photo = album / "chelsea.jpg"
    sidecar = sidecar_path(photo)
    subprocess.run(
        ["exiftool", "-q", "-o", str(sidecar), "-XMP-dc:Subject=holiday",
         "-XMP-lr:HierarchicalSubject=Places|Paris", str(photo)],
        check=True,
    )  # fmt: skip
    assert write_one(str(photo), ["tabby", "tiger cat"]).ok
    assert exif_keywords(sidecar) == (
        ["holiday", "tabby", "tiger cat"],
        ["Places|Paris", f"{PARENT}|tabby", f"{PARENT}|tiger cat"],
    )
    assert write_one(str(photo), ["lynx"]).ok  # a rerun with another model
    assert exif_keywords(sidecar) == (["holiday", "lynx"], ["Places|Paris", f"{PARENT}|lynx"])


def test_threshold_preview_and_unwritable_photo(album: Path):
    good, locked = album / "chelsea.jpg", album / "coffee.png"
    sidecar_path(locked).mkdir()  # a folder where its sidecar would go: cannot be written
    results = [
        result(good, ("tabby", 0.7), ("tiger cat", 0.2)),
        result(locked, ("espresso", 0.9)),
        result(album / "rocket.jpg", ("missile", 0.3)),  # unsure at 0.5: left alone
        ClassificationResult(str(album / "broken.jpg"), error="broken.jpg: not an image"),
    ]
    plan = plan_keywords(results, 0.5)
    assert (plan.photos, plan.keywords, plan.unsure, plan.failed) == (2, 2, 1, 1)
    records = list(write_keywords(results, 0.5))
    assert [r.path for r in records] == [str(good), str(locked)]
    assert records[0].ok and exif_keywords(sidecar_path(good))[0] == ["tabby"]
    assert not records[1].ok
    assert "coffee.png: keywords not written" in records[1].error
    assert not sidecar_path(album / "rocket.jpg").exists()
