"""Output that a spreadsheet, a terminal and a rerun can all take, whatever the names.

CSV cells a spreadsheet would run as formulas get a leading `'` (OWASP), JSON is left alone;
the table escapes control characters; `--output` files are locked, read a line at a time and
matched as written, and a full disk is a sentence with exit 2.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli.output import format_table
from core.errors import OutputFileError
from core.export import write_results
from core.results import ClassificationResult, Prediction, csv_rows, json_line
from core.scale.record_file import RecordFile, csv_text

ROOT = Path(__file__).resolve().parent.parent
FORMULAS = ('=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\tx", "\rx")
ESCAPES = "\x1b[2J\x1b]0;owned\x07\x1b]52;c;ZWNobyBwd25lZA==\x07\u202e"


def record(path: str, label: str = "tabby", error: str | None = None) -> ClassificationResult:
    if error:
        return ClassificationResult(path=path, error=error)
    return ClassificationResult(path=path, predictions=(Prediction(1, 281, label, 0.9),))


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def dangerous(cell: str) -> bool:
    return cell.startswith(("=", "+", "-", "@", "\t", "\r"))


# ---- CSV formula injection --------------------------------------------------------------------
def test_csv_cells_that_would_run_as_formulas_are_neutralised_and_json_is_not(tmp_path: Path):
    results = [record(f, label=f) for f in FORMULAS] + [record("x.jpg", error="=1+1 went wrong")]
    rows = cells(csv_text([r for res in results for r in csv_rows(res)]))
    assert not any(dangerous(c) for row in rows for c in row), rows
    assert [row[0] for row in rows[:4]] == ["'" + f for f in FORMULAS[:4]]
    # the window's export writes the same rows
    write_results(tmp_path / "export.csv", results)
    exported = cells((tmp_path / "export.csv").read_text())
    assert not any(dangerous(c) for row in exported for c in row), exported
    # JSON holds the names as they are
    write_results(tmp_path / "export.jsonl", results)
    lines = (tmp_path / "export.jsonl").read_text().splitlines()
    assert [json.loads(line)["path"] for line in lines] == [*FORMULAS, "x.jpg"]


def test_the_cli_csv_and_output_csv_neutralise_a_formula_file_name(
    checkpoint: Path, photos: dict[str, Path], tmp_path: Path
):
    name = '=HYPERLINK("evil")'
    shutil.copyfile(photos["coffee"], tmp_path / f"{name}.png")
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"+cmd|' /C calc {i}'!A0\n" for i in range(1000)))
    args = ["--weights", str(checkpoint), "--labels", str(labels), "--top", "2"]
    out = run_cli(*args, "--format", "csv", f"{name}.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = cells(out.stdout)[1:]
    assert rows and all(row[0] == f"'{name}.png" and row[3].startswith("'+cmd") for row in rows)

    output = tmp_path / "out.csv"
    first = run_cli(*args, "--output", str(output), f"{name}.png", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert not any(dangerous(c) for row in cells(output.read_text()) for c in row)
    again = run_cli(*args, "--output", str(output), f"{name}.png", cwd=tmp_path)
    assert "every image already has a record" in again.stderr  # found again on the rerun


# ---- terminal escapes -------------------------------------------------------------------------
def test_the_table_escapes_control_characters_in_names_labels_and_errors():
    text = format_table(record(f"photo{ESCAPES}.jpg", label=f"cat{ESCAPES}"))
    text += format_table(record(f"bad{ESCAPES}.jpg", error=f"broken{ESCAPES}"))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "photo\\x1b[2J\\x1b]0;owned\\x07" in text and "\\u202e" in text


def test_the_cli_table_never_sends_escapes_to_the_terminal(
    checkpoint: Path, photos: dict[str, Path], tmp_path: Path
):
    name = f"x{ESCAPES}.png"
    shutil.copyfile(photos["coffee"], tmp_path / name)
    out = run_cli("--weights", str(checkpoint), "--format", "table", name, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    assert "x\\x1b[2J" in out.stdout


# ---- --output: resume -------------------------------------------------------------------------
def test_a_second_run_on_the_same_file_is_refused_while_the_first_writes(
    tmp_path: Path, photos: dict[str, Path]
):
    path = tmp_path / "out.jsonl"
    first = RecordFile.open(path)
    with pytest.raises(OutputFileError, match="Another run is writing to"):
        RecordFile.open(path)
    first.close()
    RecordFile.open(path).close()  # free again

    # the CLI says so and exits 2 before loading any model
    with path.open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        out = run_cli("--weights", "/nowhere.pth", "--output", str(path), str(photos["coffee"]))
    assert out.returncode == 2 and "Another run is writing to" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("fmt", ["csv", "table", "json"])
def test_odd_names_are_found_again_on_resume(tmp_path: Path, fmt: str):
    names = [
        os.fsdecode(b"caf\xe9.jpg"),  # not UTF-8
        "two\n\nblank lines.jpg",
        "carriage\rreturn.jpg",
        "=formula.jpg",
        f"esc{ESCAPES}.jpg",
        "'quoted.jpg",
    ]
    render = {
        "csv": lambda r: csv_text(csv_rows(r)),
        "table": format_table,
        "json": json_line,
    }[fmt]
    path = tmp_path / f"out.{fmt}"
    with RecordFile.open(path, fmt) as out:
        for name in names:
            out.write(render(record(str(tmp_path / name))))
    for _ in range(2):  # a rerun, and one more: nothing is added twice
        with RecordFile.open(path) as again:
            assert again.recorded == len(names)
            assert again.remaining([tmp_path / n for n in names]) == []


@pytest.mark.parametrize("path_value", ["5", "null", "[1]", '{"a": 1}', "true"])
def test_a_record_whose_path_is_not_text_is_line_n_not_a_record(tmp_path: Path, path_value: str):
    path = tmp_path / "out.jsonl"
    path.write_text(json_line(record("a.jpg")) + '{"path": ' + path_value + "}\n")
    with pytest.raises(OutputFileError, match="line 2 is not a record"):
        RecordFile.open(path)
    path.write_text(json_line(record("a.jpg")) + path_value + "\n")
    with pytest.raises(OutputFileError, match="line 2 is not a record"):
        RecordFile.open(path)


def test_the_cli_says_line_n_is_not_a_record_and_exits_2(tmp_path: Path, photos):
    path = tmp_path / "out.jsonl"
    path.write_text('{"path": null}\n')
    out = run_cli("--weights", "/nowhere.pth", "--output", str(path), str(photos["coffee"]))
    assert out.returncode == 2, out.stderr
    assert "line 1 is not a record" in out.stderr and "Traceback" not in out.stderr


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 512 KiB tmpfs, nearly full (root only: mount)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.decode().strip()}")
    try:
        filler = mount / "filler"
        with filler.open("wb", buffering=0) as f, pytest.raises(OSError):
            while True:
                f.write(b"\0" * 4096)
        os.truncate(filler, filler.stat().st_size - 4096)  # a page left
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_under_output_is_a_sentence_and_exit_2(
    checkpoint: Path, photos: dict[str, Path], full_disk: Path
):
    output = full_disk / "out.jsonl"
    labels = full_disk.parent / "labels.txt"  # long labels: the records outgrow 1 KiB at once
    labels.write_text("".join(f"class {i} " + "x" * 500 + "\n" for i in range(1000)))
    out = run_cli(
        "--weights", str(checkpoint), "--labels", str(labels), "--output", str(output),
        *(str(p) for p in photos.values()),
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "No space left to write to" in out.stderr and "Traceback" not in out.stderr


def test_resuming_from_a_big_file_reads_it_a_line_at_a_time(tmp_path: Path):
    path = tmp_path / "big.jsonl"
    preds = tuple(Prediction(r, r, "a fairly long class name, " * 4, 0.1) for r in range(1, 6))
    with path.open("w") as f:
        for i in range(100_000):
            f.write(json_line(ClassificationResult(f"/photos/{i:07d}.jpg", preds)))
    size_mb = path.stat().st_size / 2**20
    probe = (
        "import resource, sys; from core.scale.record_file import RecordFile;"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "out = RecordFile.open(sys.argv[1]); assert out.recorded == 100_000;"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    grew_mb = float(done.stdout)
    assert grew_mb < size_mb / 2, f"reading a {size_mb:.0f} MB file took {grew_mb:.0f} MB more"
