"""`resnet-classify` as a user runs it: a separate process, its output and exit status."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    root = tmp_path_factory.mktemp("album")
    (root / "nested").mkdir()
    for name in ("chelsea", "coffee"):
        (root / photos[name].name).write_bytes(photos[name].read_bytes())
    (root / "nested" / photos["rocket"].name).write_bytes(photos["rocket"].read_bytes())
    (root / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    (root / "readme.txt").write_text("not an image, and not picked up from a folder")
    return root


def test_json_for_a_folder_one_line_per_image_in_order(checkpoint: Path, folder: Path):
    out = run_cli("--weights", str(checkpoint), "--format", "json", str(folder))
    assert out.returncode == 1, out.stderr  # the broken file failed, the others were printed
    assert "Traceback" not in out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(r["path"]).name for r in records] == ["chelsea.jpg", "coffee.png", "zz_broken.jpg"]
    first = records[0]["predictions"]
    assert [p["rank"] for p in first] == [1, 2, 3, 4, 5]
    assert set(first[0]) == {"rank", "index", "label", "probability"}
    assert "zz_broken.jpg" in records[2]["error"]


def test_recursive_csv_and_top_k(checkpoint: Path, folder: Path):
    out = run_cli("--weights", str(checkpoint), "--format", "csv", "--top", "2", "-r", str(folder))
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert out.returncode == 1
    names = {Path(r["path"]).name for r in rows}
    assert names == {"chelsea.jpg", "coffee.png", "rocket.jpg", "zz_broken.jpg"}
    assert len([r for r in rows if r["path"].endswith("rocket.jpg")]) == 2
    assert [Path(r["path"]).name for r in rows if r["error"]] == ["zz_broken.jpg"]


def test_missing_and_empty_folders_are_said_with_exit_1(
    checkpoint: Path, photos: dict[str, Path], tmp_path: Path
):
    # the folders are listed on a thread while torch loads: what a user sees must not change
    (tmp_path / "empty").mkdir()
    missing = tmp_path / "no such folder"
    out = run_cli(
        "--weights", str(checkpoint), "--format", "json", str(missing), str(photos["coffee"])
    )
    assert out.returncode == 1, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert records[0] == {"path": str(missing), "error": "no such folder: file not found."}
    assert Path(records[1]["path"]).name == "coffee.png" and records[1]["predictions"]
    empty = run_cli("--weights", str(checkpoint), str(tmp_path / "empty"))
    assert empty.returncode == 1 and empty.stdout == ""
    assert empty.stderr == "resnet-classify: no images found in the given folders.\n"


def test_a_pipe_and_a_device_in_a_folder_get_records_and_never_block(
    checkpoint: Path, photos: dict[str, Path], tmp_path: Path
):
    # listed and read ahead on threads now: each odd entry still gets its own record
    (tmp_path / "a.png").write_bytes(photos["coffee"].read_bytes())
    os.mkfifo(tmp_path / "b_pipe.jpg")
    os.symlink("/dev/zero", tmp_path / "c_zero.jpg")
    out = run_cli("--weights", str(checkpoint), "--format", "json", str(tmp_path))
    assert out.returncode == 1, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(r["path"]).name for r in records] == ["a.png", "b_pipe.jpg", "c_zero.jpg"]
    assert "predictions" in records[0]
    assert all("not a regular file" in r["error"] for r in records[1:])


def test_table_is_readable_and_all_ok_exits_zero(checkpoint: Path, photos: dict[str, Path]):
    out = run_cli("--weights", str(checkpoint), "--format", "table", str(photos["chelsea"]))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].endswith("chelsea.jpg")
    assert len(lines) == 6 and lines[1].strip().startswith("1.") and "%" in lines[1]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--top", "0", "x.jpg"], 2, "--top"),
        (["--format", "xml", "x.jpg"], 2, "invalid choice"),
        ([], 2, "required"),
        (["--weights", "/no/such/file.pth", "x.jpg"], 3, "not found"),
        (["--device", "cuda:3", "x.jpg"], 3, "GPU"),
    ],
)
def test_usage_and_model_errors_have_their_exit_codes(
    checkpoint: Path, args: list[str], code: int, words: str
):
    if "--device" in args:
        args = ["--weights", str(checkpoint), *args]
    out = run_cli(*args)
    assert out.returncode == code, out.stderr
    assert words in out.stderr
    assert "Traceback" not in out.stderr


def test_offline_without_weights_exits_3_naming_the_ways_out(tmp_path: Path, photos):
    out = run_cli(
        str(photos["chelsea"]),
        env={
            "TORCH_HOME": str(tmp_path / "empty_cache"),
            "RESNET_CLASSIFIER_WEIGHTS_DIR": str(tmp_path / "nothing"),
            "RESNET_CLASSIFIER_WEIGHTS_URL": "http://127.0.0.1:9",
        },
    )
    assert out.returncode == 3
    assert "--weights FILE" in out.stderr and "Traceback" not in out.stderr


def test_a_corrupt_checkpoint_exits_3(tmp_path: Path, photos):
    bad = tmp_path / "corrupt.pth"
    bad.write_bytes(b"PK\x03\x04 not a zip at all")
    out = run_cli("--weights", str(bad), str(photos["chelsea"]))
    assert out.returncode == 3
    assert "corrupt.pth" in out.stderr and "Traceback" not in out.stderr


def test_fast_mode_is_an_opt_in_that_still_ranks_five(checkpoint: Path, photos):
    exact = run_cli("--weights", str(checkpoint), "--format", "json", str(photos["chelsea"]))
    fast = run_cli(
        "--weights",
        str(checkpoint),
        "--precision",
        "bf16",
        "--format",
        "json",
        str(photos["chelsea"]),
    )
    assert exact.returncode == fast.returncode == 0, fast.stderr
    exact_preds = json.loads(exact.stdout)["predictions"]
    fast_preds = json.loads(fast.stdout)["predictions"]
    probs = [p["probability"] for p in fast_preds]
    assert [p["rank"] for p in fast_preds] == [1, 2, 3, 4, 5]
    assert probs == sorted(probs, reverse=True)
    # bf16 rounds the activations: close to, but not the reference numbers.
    assert fast_preds[0]["index"] == exact_preds[0]["index"]
    assert probs != [p["probability"] for p in exact_preds]


OFFLINE_ENV = {
    "RESNET_CLASSIFIER_WEIGHTS_URL": "http://127.0.0.1:9",  # nothing listens: no download
}


def offline_env(tmp_path: Path) -> dict[str, str]:
    return {
        **OFFLINE_ENV,
        "TORCH_HOME": str(tmp_path / "torch_home"),
        "RESNET_CLASSIFIER_WEIGHTS_DIR": str(tmp_path / "nothing"),
    }


def test_missing_weights_name_the_file_its_folder_and_the_flag_never_a_menu(tmp_path, photos):
    out = run_cli(str(photos["chelsea"]), env=offline_env(tmp_path))
    assert out.returncode == 3
    assert "resnet50-11ad3fa6.pth (about 98 MB)" in out.stderr
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in out.stderr
    assert "--weights FILE" in out.stderr
    assert "File >" not in out.stderr and "Errno" not in out.stderr, out.stderr


def test_a_piped_run_with_failures_ends_with_one_summary_line_on_stderr(checkpoint, folder):
    out = run_cli("--weights", str(checkpoint), str(folder))  # stdout is a pipe: JSON
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last == "resnet-classify: 1 of 3 files could not be classified; see the error field."
    assert len(out.stdout.splitlines()) == 3  # the records themselves stay on stdout


def test_table_mode_puts_a_failed_file_on_stderr(checkpoint, folder):
    out = run_cli("--weights", str(checkpoint), "--format", "table", str(folder))
    assert out.returncode == 1
    assert "zz_broken.jpg" not in out.stdout and "chelsea.jpg" in out.stdout
    assert "error:" in out.stderr and "zz_broken.jpg" in out.stderr
    assert out.stderr.strip().endswith("see the errors above.")


def test_help_has_examples_exit_codes_and_a_guide_that_exists():
    for module in ("core", "core.cli.train"):
        out = subprocess.run(
            [sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=ROOT
        )
        assert out.returncode == 0
        assert "examples:" in out.stdout and "exit status:" in out.stdout
        assert "  3  " in out.stdout
        guide = out.stdout.split("full guide: ")[1].split()[0]
        assert (ROOT / guide).is_file(), guide
