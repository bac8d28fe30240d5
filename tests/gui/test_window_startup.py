"""Start-up as a user meets it: the window first, torch later; `--self-test` for CI and installers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_gui_modules_do_not_import_torch():
    code = (
        "import sys, gui.app, gui.window, gui.worker, gui.widgets, gui.drops, gui.settings;"
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    )
    done = run("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_window_paints_before_torch_is_imported():
    done = run("-m", "gui", "--startup-probe")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["torch_loaded"] is False
    assert record["first_paint_s"] < 5


def test_self_test_prints_the_cli_json_record_and_exits_0(checkpoint):
    sample = ROOT / "resources" / "sample.jpg"
    done = run("-m", "gui", "--self-test", "--weights", str(checkpoint), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    record = json.loads(lines[0])
    assert "QThread" not in done.stderr, done.stderr

    cli = run("-m", "core", "--format", "json", "--weights", str(checkpoint), str(sample))
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    assert Path(record["path"]) == sample
    assert record["predictions"] == expected["predictions"]
    assert [p["rank"] for p in record["predictions"]] == [1, 2, 3, 4, 5]


def test_self_test_fails_with_the_reason(tmp_path):
    bad = tmp_path / "model.pth"
    bad.write_bytes(b"")
    done = run("-m", "gui", "--self-test", "--weights", str(bad))
    assert done.returncode == 3
    assert done.stdout == ""
    assert "self-test failed: model.pth is empty." in done.stderr


def test_version_is_read_only_when_asked_for():
    done = run("-m", "gui", "--version")
    assert done.returncode == 0, done.stderr
    version = next(
        line.split('"')[1]
        for line in (ROOT / "pyproject.toml").read_text().splitlines()
        if line.startswith("version")
    )
    assert done.stdout.strip() == f"resnet-classifier {version}"
    # the parser the window starts with leaves package metadata unread (14 ms before first paint)
    code = "import sys, gui.app; gui.app.build_parser(); print('importlib.metadata' in sys.modules)"
    done = run("-c", code)
    assert done.stdout.strip() == "False", done.stderr


def test_the_library_and_the_result_types_are_imported_after_the_first_paint():
    """Keywords, sorting, corrections and the result types (csv, json, dataclasses) took 9 ms
    of 154 to the window; nothing can use them before the workers start."""
    code = (
        "import sys, gui.app, gui.window;"
        "print(sorted(m for m in ('gui.library', 'gui.corrections', 'core.results')"
        " if m in sys.modules))"
    )
    done = run("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
