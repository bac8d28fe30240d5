"""Output that survives any file name, and exports that never destroy the last good file."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ExportError
from core.export import write_results
from core.results import ClassificationResult, Prediction, json_line

ROOT = Path(__file__).resolve().parent.parent
BAD = os.fsdecode(b"bad\xff\xfe.jpg")  # not valid UTF-8, as Linux allows


def _strict_json(line: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)


@pytest.fixture(scope="module")
def odd_names(tmp_path_factory: pytest.TempPathFactory, photos) -> list[str]:
    folder = tmp_path_factory.mktemp("names")
    paths = [folder / "good.png", folder / BAD, folder / "coins.png"]
    shutil.copy(photos["coffee"], paths[0])
    shutil.copy(photos["chelsea"], paths[1])
    shutil.copy(photos["rocket"], paths[2])
    return [str(p) for p in paths]


def run_cli(*args: str, encoding: str = "utf-8") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": encoding},
        timeout=300,
    )


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_a_name_that_is_not_utf8_keeps_every_format_valid_and_complete(
    checkpoint: Path, odd_names: list[str], encoding: str
):
    base = ["--weights", str(checkpoint), "--top", "2", *odd_names]
    out = run_cli("--format", "json", *base, encoding=encoding)
    assert out.returncode == 0 and not out.stderr, out.stderr.decode(errors="replace")
    records = [_strict_json(line) for line in out.stdout.decode(encoding).splitlines()]
    # the JSON path gives back the exact bytes of the name
    assert [os.fsencode(r["path"]) for r in records] == [os.fsencode(p) for p in odd_names]

    out = run_cli("--format", "csv", *base, encoding=encoding)
    assert out.returncode == 0 and not out.stderr, out.stderr.decode(errors="replace")
    rows = list(csv.DictReader(io.StringIO(out.stdout.decode(encoding))))
    assert [Path(r["path"]).name for r in rows] == [
        "good.png",
        "good.png",
        "bad\\xff\\xfe.jpg",
        "bad\\xff\\xfe.jpg",
        "coins.png",
        "coins.png",
    ]

    out = run_cli("--format", "table", *base, encoding=encoding)
    assert out.returncode == 0 and not out.stderr, out.stderr.decode(errors="replace")
    table = out.stdout.decode(encoding)
    assert "bad\\xff\\xfe.jpg" in table and "coins.png" in table


def _results(n: int, name: str = "photo.jpg") -> list[ClassificationResult]:
    preds = tuple(Prediction(r, r, f"label {r} é", 0.1) for r in range(1, 6))
    return [ClassificationResult(path=f"/album/{i}-{name}", predictions=preds) for i in range(n)]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_of_a_non_utf8_name_is_complete_and_valid(tmp_path: Path, suffix: str):
    path = tmp_path / f"out{suffix}"
    results = [*_results(2), ClassificationResult(path=f"/album/{BAD}", error=f"{BAD}: damaged.")]
    assert write_results(path, results) == 3
    text = path.read_text(encoding="utf-8")
    if suffix == ".jsonl":
        records = [_strict_json(line) for line in text.splitlines()]
        assert records[2]["path"] == f"/album/{BAD}"
        assert text.splitlines(keepends=True)[2] == json_line(results[2])
    else:
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) == 1 + 2 * 5 + 1
        assert rows[-1][0] == "/album/bad\\xff\\xfe.jpg"


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 64 KiB tmpfs: a full disk a test can make (tests run as root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_export_on_a_full_disk_keeps_the_previous_file_and_says_so(small_disk: Path):
    path = small_disk / "results.csv"
    assert write_results(path, _results(3)) == 3
    before = path.read_bytes()
    with pytest.raises(ExportError, match=r"results\.csv.*No space left"):
        write_results(path, _results(2000))  # ~400 KB: cannot fit
    assert path.read_bytes() == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["results.csv"]  # no leftovers
