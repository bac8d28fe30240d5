"""`--output FILE`: every record written whole, and a rerun that finishes the job."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import OutputFileError
from core.results import ClassificationResult, Prediction, csv_rows, json_line
from core.scale.record_file import RecordFile, csv_text

ROOT = Path(__file__).resolve().parent.parent


def record(path: str, error: str | None = None) -> ClassificationResult:
    if error:
        return ClassificationResult(path=path, error=error)
    return ClassificationResult(path=path, predictions=(Prediction(1, 281, "tabby", 0.9),))


def same_records(a: list[str], b: list[str]) -> bool:
    """The same records, each once, probabilities equal to a few millionths."""

    def key(line: str) -> tuple:
        r = json.loads(line)
        preds = [(p["rank"], p["index"], p["label"]) for p in r.get("predictions") or []]
        return r["path"], r.get("error"), preds

    def probabilities(line: str) -> list[float]:
        return [p["probability"] for p in json.loads(line).get("predictions") or []]

    a, b = sorted(a, key=lambda x: key(x)[0]), sorted(b, key=lambda x: key(x)[0])
    if [key(x) for x in a] != [key(x) for x in b]:
        return False
    return all(
        abs(p - q) <= 1e-5
        for x, y in zip(a, b, strict=True)
        for p, q in zip(probabilities(x), probabilities(y), strict=True)
    )


def test_a_local_run_killed_midway_finishes_on_the_rerun(
    checkpoint: Path, photos: dict[str, Path], tmp_path: Path
):
    folder = tmp_path / "album"
    folder.mkdir()
    for path in photos.values():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 broken")
    output = tmp_path / "out.jsonl"

    def run() -> subprocess.CompletedProcess:
        args = ["--weights", str(checkpoint), "--output", str(output), str(folder)]
        return subprocess.run(
            [sys.executable, "-m", "core", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )

    first = run()
    assert first.returncode == 1, first.stderr  # broken.jpg
    assert first.stdout == ""  # the records went to the file
    whole = output.read_text(encoding="utf-8").splitlines()
    assert len(whole) == 5
    # as if killed while writing the fourth record
    output.write_text("\n".join(whole[:3]) + "\n" + whole[3][:25], encoding="utf-8")

    second = run()
    assert second.returncode == 1, second.stderr
    lines = output.read_text(encoding="utf-8").splitlines()
    assert lines[:3] == whole[:3]
    # each image once, with the same predictions: the rerun classifies two images in a smaller
    # batch, and on some CPUs (AMD EPYC here) oneDNN then picks other kernels, which moves a
    # probability by a few millionths (4e-6 measured)
    assert same_records(lines, whole)

    third = run()
    assert "every image already has a record" in third.stderr
    assert output.read_text(encoding="utf-8").splitlines() == lines


def test_csv_and_table_files_resume_in_their_own_format(tmp_path: Path):
    from core.cli.output import format_table

    for fmt, render in [
        ("csv", lambda r: csv_text(csv_rows(r))),
        ("table", format_table),
    ]:
        path = tmp_path / f"out.{fmt}"
        with RecordFile.open(path, fmt) as out:
            out.write(render(record("a.jpg")))
            out.write(render(record("b.jpg", error="b.jpg: the file is empty.")))
        with RecordFile.open(path) as again:  # no --format: the file's own
            assert again.format == fmt
            assert again.recorded == 2 and again.failed == 1
            assert again.remaining(["a.jpg", "c.jpg", "b.jpg", "c.jpg"]) == [Path("c.jpg")]
            again.write(render(record("c.jpg")))
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert [r["path"] for r in rows] == ["a.jpg", "b.jpg", "c.jpg"]  # one header only
    assert (tmp_path / "out.table").read_text().count("\n\n") == 3


def test_paths_match_however_they_were_written(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "out.jsonl"
    path.write_text(json_line(record("photos/a.jpg")))
    out = RecordFile.open(path)
    assert out.remaining([tmp_path / "photos" / "a.jpg", "photos/./b.jpg"]) == [
        Path("photos/b.jpg")
    ]
    out.close()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"path": "a.jpg"}\n', None),
        ("Dear diary,\nnot a record.\n\nAt all.\n\n", "other than"),
        ('{\n  "pretty": true\n}\n', "not a record"),
    ],
    ids=["ours", "someone's notes", "some other JSON"],
)
def test_a_file_that_is_not_ours_is_left_alone(tmp_path: Path, content: str, words: str | None):
    path = tmp_path / "file"
    path.write_text(content)
    if words is None:
        RecordFile.open(path).close()
        return
    with pytest.raises(OutputFileError, match=words):
        RecordFile.open(path)
    assert path.read_text() == content


def test_asking_for_another_format_than_the_files_is_refused(tmp_path: Path):
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps({"path": "a.jpg", "error": "x"}) + "\n")
    with pytest.raises(OutputFileError, match="--format json"):
        RecordFile.open(path, "csv")
