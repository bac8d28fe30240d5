"""The .deb of a CUDA bundle is split so that every file fits GitHub's 2 GiB release limit."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def build_deb():
    spec = importlib.util.spec_from_file_location("build_deb", ROOT / "packaging" / "build_deb.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_deb"] = module
    spec.loader.exec_module(module)
    return module


def bundle(root: Path, names: list[str]) -> Path:
    """A package tree whose _internal/ holds empty files with these relative names."""
    internal = root / "opt" / "resnet-classifier" / "_internal"
    for name in names:
        (internal / name).parent.mkdir(parents=True, exist_ok=True)
        (internal / name).write_bytes(b"")
    return internal


def tree(root: Path) -> set[str]:
    internal = root / "opt" / "resnet-classifier" / "_internal"
    return {p.relative_to(internal).as_posix() for p in internal.rglob("*") if p.is_file()}


def test_nvidia_libraries_go_to_their_own_packages(tmp_path: Path, build_deb) -> None:
    app = [
        "libtorch_cuda.so",
        "libtorch_cpu.so",
        "libtorch_nvshmem.so",
        "torch/__init__.pyc",
        "PySide6/libQt6Core.so.6",
    ]
    cuda = ["libcublasLt.so.13", "libcudart.faf08d9a.so.13", "libcusparse.so.12", "libnvrtc.so.13"]
    cudnn = [
        "libcudnn_graph.so.9",
        "nvidia/cudnn/lib/libcudnn_cnn.so.9",
        "libcusparseLt.so.0",
        "nvidia/nccl/lib/libnccl.so.2",
        "libnvshmem_host.so.3",
    ]
    root = tmp_path / "root"
    internal = bundle(root, [*app, *cuda, *cudnn, "nvidia/cu13/LICENSE.txt"])

    made = dict(build_deb.split_nvidia(root, tmp_path, "0.1.0"))

    assert sorted(made) == ["resnet-classifier-cuda", "resnet-classifier-cudnn"]
    assert tree(root) == set(app)
    assert tree(made["resnet-classifier-cuda"]) == {*cuda, "nvidia/cu13/LICENSE.txt"}
    assert tree(made["resnet-classifier-cudnn"]) == set(cudnn)
    assert not (internal / "nvidia").exists()  # no empty folders left in the app's package
    for name, pkg_root in made.items():
        assert (pkg_root / "usr" / "share" / "doc" / name / "copyright").is_file()


def test_a_cpu_bundle_stays_one_package(tmp_path: Path, build_deb) -> None:
    root = tmp_path / "root"
    bundle(root, ["libtorch_cpu.so", "torch/__init__.pyc"])

    assert build_deb.split_nvidia(root, tmp_path, "0.1.0") == []
    assert tree(root) == {"libtorch_cpu.so", "torch/__init__.pyc"}
