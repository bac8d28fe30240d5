"""Without Ray: what `--cluster` says when Ray is missing, and how the actor pool is sized."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import DeviceUnavailableError
from core.scale.cluster import ClusterPlan, plan_resources, result_from_row

ROOT = Path(__file__).resolve().parent.parent


def test_without_ray_cluster_says_how_to_install_it(tmp_path: Path):
    code = (
        "import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
        "from core.cli.classify import main\n"
        f"sys.exit(main(['--cluster', 'auto', {str(tmp_path)!r}]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 4, out.stderr
    assert "pip install 'resnet-classifier[cluster]'" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_an_address_where_no_cluster_listens_fails_at_once(photos: dict[str, Path]):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run(
        [sys.executable, "-m", "core", "--cluster", f"127.0.0.1:{port}", str(photos["chelsea"])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 4, out.stderr
    assert f"Cannot reach a Ray cluster at '127.0.0.1:{port}'" in out.stderr
    assert "ray start --head" in out.stderr


def test_cpu_actors_leave_one_cpu_to_ray_data():
    # ten 16-core nodes: 159 single-CPU actors, one CPU free for Ray Data's own tasks
    assert plan_resources({"CPU": 160}) == ClusterPlan("cpu", 159, 1, 0)
    assert plan_resources({"CPU": 160}, cpus_per_actor=4) == ClusterPlan("cpu", 39, 4, 0)
    assert plan_resources({"CPU": 1}).actors == 1  # never none
    assert plan_resources({"CPU": 160}, actors=3).actors == 3


def test_gpu_actors_take_a_gpu_each_and_share_the_cpus_for_decoding():
    # ten nodes of one GPU and 16 cores: ten actors, each decoding on 15 CPUs
    plan = plan_resources({"CPU": 160, "GPU": 10}, "cuda")
    assert plan == ClusterPlan("cuda", 10, 15, 1)
    assert plan.decode_workers == 15
    assert plan_resources({"CPU": 160, "GPU": 10}).device == "cuda"  # auto picks the GPUs
    assert plan_resources({"CPU": 160, "GPU": 10}, "cpu").device == "cpu"


@pytest.mark.parametrize(("device", "words"), [("cuda", "has no GPU"), ("tpu", "Unknown device")])
def test_a_device_the_cluster_lacks_is_refused(device: str, words: str):
    with pytest.raises(DeviceUnavailableError, match=words):
        plan_resources({"CPU": 8}, device)


def test_a_file_this_machine_sees_but_a_worker_does_not_says_storage_is_not_shared(
    tmp_path: Path,
):
    here = tmp_path / "cat.jpg"
    here.write_bytes(b"seen by the driver only")
    row = {
        "path": "cat.jpg",
        "file": str(here),
        "predictions": "[]",
        "device": "cpu",
        "seconds": 0.0,
        "host": "node-7",
        "missing": True,
        "error": "cat.jpg: file not found.",
    }  # what the worker's engine said
    assert (
        "not found on cluster node node-7, though this machine sees it"
        in result_from_row(row).error
    )
    assert "shared storage" in result_from_row(row).error
    gone = {
        **row,
        "file": str(tmp_path / "gone.jpg"),
        "path": "gone.jpg",
        "error": "gone.jpg: file not found.",
    }
    assert result_from_row(gone).error == "gone.jpg: file not found."  # as a local run says


def test_core_imports_without_ray():
    """Ray is an optional extra: nothing in core/ imports it until --cluster runs."""
    code = (
        "import importlib, pkgutil, sys, core\n"
        "for m in pkgutil.iter_modules(core.__path__):\n"
        "    if m.name != '__main__':\n"
        "        importlib.import_module(f'core.{m.name}')\n"
        "print('ray' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "False"
