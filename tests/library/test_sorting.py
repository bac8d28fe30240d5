"""Sorting photos into class folders, and undoing it exactly, even after a killed run."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.library.sorting import execute, plan_sort, undo
from core.results import ClassificationResult, Prediction
from tests.test_cli import ROOT, run_cli


def digests(root: Path) -> dict[str, str]:
    """Every file under `root` by relative path, with its SHA-256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def result(path: Path, label: str, p: float) -> ClassificationResult:
    return ClassificationResult(str(path), (Prediction(1, 0, label, p),))


@pytest.fixture
def album(tmp_path: Path, photos: dict[str, Path]) -> Path:
    root = tmp_path / "album"
    (root / "trip").mkdir(parents=True)
    for name in ("chelsea", "coffee", "rocket"):
        (root / photos[name].name).write_bytes(photos[name].read_bytes())
    # the same name twice: one of them must get a suffix, neither overwritten
    (root / "trip" / "chelsea.jpg").write_bytes(photos["astronaut"].read_bytes())
    (root / "chelsea.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    (root / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    return root


def test_cli_sort_move_then_undo_puts_every_file_back(checkpoint: Path, album: Path):
    before = digests(album)
    out = album.parent / "sorted"
    run = run_cli(
        "--weights", str(checkpoint), "-r", "--format", "json", "--move",
        "--min-confidence", "0.85", "--sort-into", str(out), str(album),
    )  # fmt: skip
    assert run.returncode == 1, run.stderr  # the broken photo failed to classify
    placed = digests(out)
    assert not [p for p in album.rglob("*") if p.is_file()]  # all moved
    # the random model says "photocopier" to the photos; two are under 85%: unsure
    names = {Path(p).name for p in placed}
    assert {"chelsea.jpg", "chelsea-2.jpg", "chelsea.jpg.xmp", "coffee.png"} <= names
    sidecar = next(p for p in placed if p.endswith("chelsea.jpg.xmp"))
    assert Path(sidecar).parent == Path(next(p for p in placed if p.endswith("chelsea.jpg"))).parent
    log = (out / "unsure" / "unsure-log.txt").read_text()
    assert "zz_broken.jpg\tfailed:" in log
    assert "under 85%" in log
    journal = next(out.glob("sort-journal-*.jsonl"))
    assert str(journal) in run.stderr  # named in the output
    assert set(placed.values()) >= set(before.values())

    back = run_cli("--undo", str(journal))
    assert back.returncode == 0, back.stderr
    assert digests(album) == before
    assert [p.name for p in out.rglob("*")] == [journal.name]


def test_dry_run_prints_the_plan_and_touches_nothing(checkpoint: Path, album: Path):
    before = digests(album)
    out = album.parent / "sorted"
    run = run_cli(
        "--weights", str(checkpoint), "--sort-into", str(out), "--move", "--dry-run",
        "--min-confidence", "0", str(album),
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert f"move {album / 'chelsea.jpg'} -> " in lines[0]
    assert any("chelsea.jpg.xmp" in line for line in lines)
    assert not out.exists() and digests(album) == before


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from core.results import ClassificationResult, Prediction
    from core.library.sorting import execute, plan_sort

    src, out, stop_after = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    results = [
        ClassificationResult(str(p), (Prediction(1, 0, f"class {i % 3}", 0.9),))
        for i, p in enumerate(sorted(src.iterdir()))
    ]
    def progress(done, total):
        if done == stop_after:
            os.kill(os.getpid(), signal.SIGKILL)
    execute(plan_sort(results, out, 0.5, "move"), progress)
    """
)


def test_undo_after_the_run_was_killed_half_way(tmp_path: Path):
    src = tmp_path / "photos"
    src.mkdir()
    for i in range(40):
        (src / f"img{i:02d}.jpg").write_bytes(os.urandom(2000 + i))
    before = digests(src)
    out = tmp_path / "out"
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(src), str(out), "17"], cwd=ROOT, timeout=120
    )
    assert killed.returncode == -9
    assert len(digests(src)) == 40 - 17  # 17 moved when it died
    journal = next(out.glob("sort-journal-*.jsonl"))
    report = undo(journal)
    assert report.problems == []
    assert report.restored == 17
    assert digests(src) == before
    assert [p.name for p in out.iterdir()] == [journal.name]


def test_a_copy_cut_short_and_a_move_before_its_delete_are_undone(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    a, b = src / "a.jpg", src / "b.jpg"
    a.write_bytes(b"a" * 5000)
    b.write_bytes(b"b" * 5000)
    before = digests(src)
    plan = plan_sort([result(a, "cat", 0.9), result(b, "dog", 0.9)], tmp_path / "out", 0.5, "copy")
    report = execute(plan)
    # as a kill would leave a move: the copy in place, the original not yet deleted...
    assert report.done == 2
    # ...and a half-written copy of another file next to it
    (tmp_path / "out" / "cat" / ".x.jpg.part").write_bytes(b"half")
    assert undo(report.journal).restored == 2
    assert digests(src) == before
    assert not (tmp_path / "out" / "cat" / "a.jpg").exists()


def test_undo_leaves_a_file_changed_since_and_says_so(tmp_path: Path):
    a = tmp_path / "a.jpg"
    a.write_bytes(b"original")
    report = execute(plan_sort([result(a, "cat", 0.9)], tmp_path / "out", 0.5, "move"))
    moved = tmp_path / "out" / "cat" / "a.jpg"
    moved.write_bytes(b"edited afterwards")
    back = undo(report.journal)
    assert back.restored == 0 and "changed since it was sorted" in back.problems[0]
    assert moved.read_bytes() == b"edited afterwards" and not a.exists()


def test_move_across_file_systems_copies_verifies_and_deletes(tmp_path: Path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system (/dev/shm)")
    a = tmp_path / "a.jpg"
    a.write_bytes(os.urandom(300_000))
    before = digests(tmp_path)
    out = shm / f"sort-test-{os.getpid()}"
    try:
        report = execute(plan_sort([result(a, "cat", 0.9)], out, 0.5, "move"))
        assert report.done == 1 and not a.exists()
        assert digests(out / "cat") == {"a.jpg": before["a.jpg"]}
        assert undo(report.journal).restored == 1
        assert digests(tmp_path) == before
    finally:
        for p in sorted(out.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        out.rmdir()
