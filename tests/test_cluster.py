"""`resnet-classify --cluster` on a real Ray cluster: a head and one more node on this machine.

One CPU each, started once for the module, bound to 127.0.0.1. The workers import this
checkout's `core` (PYTHONPATH), as every node of a real cluster runs the same install.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli.classify import main
from core.results import ClassificationResult

if importlib.util.find_spec("ray") is None:
    pytest.skip("the cluster extra (Ray) is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster():
    """A head and one worker node, one CPU each; the test process is the driver."""
    with pytest.MonkeyPatch.context() as mp:
        # Ray reads this when it is imported: with it, every address is 127.0.0.1
        mp.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        mp.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        )
        assert "ray" not in sys.modules, "Ray was imported before it could be kept on 127.0.0.1"
        import ray
        from ray.cluster_utils import Cluster

        local = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
        c = Cluster(initialize_head=True, head_node_args={**local, "include_dashboard": False})
        c.worker = c.add_node(**local)
        c.wait_for_nodes()
        ray.init(address=c.address, log_to_driver=False)
        try:
            yield c
        finally:
            ray.shutdown()
            c.shutdown()


@pytest.fixture(scope="module")
def album(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """Three real photos, a broken JPEG and an empty file."""
    root = tmp_path_factory.mktemp("album")
    for name in ("chelsea", "coffee", "astronaut"):
        (root / photos[name].name).write_bytes(photos[name].read_bytes())
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "empty.png").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def local_records(album: Path, checkpoint: Path) -> dict[str, ClassificationResult]:
    """What a run on this machine gives for the album, by path."""
    from core.decode.files import expand_paths
    from core.engine import Classifier
    from core.model import load_model

    classifier = Classifier(load_model(str(checkpoint)), "cpu")
    return {r.path: r for r in classifier.classify_many(expand_paths([album]))}


def classify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["--format", "json", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def assert_same_as_local(record: dict, local: ClassificationResult) -> None:
    if local.error is not None:
        assert record == {"path": local.path, "error": local.error}
        return
    got = record["predictions"]
    assert got[0]["index"] == local.top.index, record["path"]
    want = [p.probability for p in local.predictions]
    # another thread count sums in another order: float noise only
    assert np.allclose([p["probability"] for p in got], want, atol=1e-4), record["path"]


def test_a_folder_on_the_cluster_gives_the_records_of_a_local_run(
    cluster, album: Path, checkpoint: Path, local_records, capsys
):
    code, records, err = classify(
        capsys, "--weights", str(checkpoint), "--cluster", cluster.address, str(album)
    )
    assert code == 1, err  # the broken and the empty file failed, as they do locally
    assert "on the cluster, 1 actor on cpu" in err  # two CPUs: one is left for Ray Data
    assert sorted(r["path"] for r in records) == sorted(local_records)
    for record in records:
        assert_same_as_local(record, local_records[record["path"]])
    errors = {Path(r["path"]).name: r["error"] for r in records if "error" in r}
    assert set(errors) == {"broken.jpg", "empty.png"}
    assert "empty" in errors["empty.png"]


def test_a_killed_run_resumes_from_its_output_file(
    cluster, album: Path, checkpoint: Path, local_records, capsys, tmp_path: Path
):
    paths = sorted(local_records)
    done = [json.dumps(local_records[p].to_dict()) + "\n" for p in paths[:2]]
    output = tmp_path / "records.jsonl"
    # two whole records, then the third cut off where the kill struck
    output.write_text("".join(done) + '{"path": "' + paths[2][:10], encoding="utf-8")

    code, _, err = classify(
        capsys,
        "--weights",
        str(checkpoint),
        "--cluster",
        cluster.address,
        "-o",
        str(output),
        str(album),
    )
    assert code == 1, err
    lines = output.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert lines[:2] == [d.rstrip("\n") for d in done]  # kept as they were
    assert sorted(r["path"] for r in records) == paths  # every image once, the cut one again
    for record in records:
        assert_same_as_local(record, local_records[record["path"]])

    code, _, err = classify(
        capsys,
        "--weights",
        str(checkpoint),
        "--cluster",
        cluster.address,
        "-o",
        str(output),
        str(album),
    )
    assert "every image already has a record" in err
    assert code == 1  # the file still holds two failures
    assert output.read_text(encoding="utf-8").splitlines() == lines


def make_photos(folder: Path, n: int) -> list[str]:
    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"photo{i:02d}.jpg"
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def wait_until(condition, timeout: float = 300) -> None:
    """Poll `condition` (as qtbot.waitUntil does) until it holds, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_cluster_run_killed_midway_finishes_when_run_again(
    cluster, checkpoint: Path, tmp_path: Path
):
    paths = make_photos(tmp_path / "photos", 24)
    output = tmp_path / "records.jsonl"
    cmd = [sys.executable, "-m", "core", "--weights", str(checkpoint), "--batch-size", "1"]
    cmd += ["--cluster", cluster.address, "--output", str(output), str(tmp_path / "photos")]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

    def records() -> list[str]:
        return output.read_text().splitlines() if output.exists() else []

    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(records()) >= 3 or first.poll() is not None)
    finally:
        first.send_signal(signal.SIGKILL)  # as a power cut would
        _, err = first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL, err
    assert 3 <= len(records()) < len(paths)

    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert sorted(json.loads(line)["path"] for line in records()) == paths  # each once


def test_a_node_lost_mid_run_does_not_lose_the_run(
    cluster, checkpoint: Path, tmp_path: Path, monkeypatch
):
    """Two actors, one per node; the worker node goes away after its first record."""
    from ray.data import DataContext

    from core.model import load_model
    from core.scale.cluster import ClusterRun

    # both actors up before the first batch is handed out, so that the worker node has work
    monkeypatch.setattr(DataContext.get_current(), "wait_for_min_actors_s", 300)

    paths = make_photos(tmp_path / "photos", 24)
    run = ClusterRun(paths, load_model(str(checkpoint)), cluster.address, batch_size=1, actors=2)
    worker = cluster.worker.node_id
    got: list[ClassificationResult] = []
    removed_with_left = None
    for result in run:
        got.append(result)
        if removed_with_left is None and run.per_node[worker]:
            removed_with_left = len(paths) - len(got)
            cluster.remove_node(cluster.worker)

    assert removed_with_left, "the worker node finished no record while work was left"
    assert sorted(r.path for r in got) == paths  # every image exactly once
    assert all(r.ok for r in got)
