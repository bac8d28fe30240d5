"""The device doctor: every device listed, and a missing GPU explained in words.

This machine has no GPU, so each reason is tested on the facts of the machine it stands for.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core.devices import (
    SystemFacts,
    cpu_matrix_units,
    device_report,
    parse_driver_version,
    probe_system,
    why_no_gpu,
)

ROOT = Path(__file__).resolve().parents[1]

# a Linux PC with an NVIDIA GPU, the driver and a CUDA build of torch: the GPU works
WORKING = SystemFacts(
    platform="linux",
    torch_version="2.11.0+cu130",
    torch_cuda="13.0",
    cuda_available=True,
    device_count=1,
    visible_devices=None,
    driver_version="580.159.04",
    driver_cuda="13.0",
)
# the same PC where CUDA does not start: each test changes what makes it so
NOT_STARTING = replace(WORKING, cuda_available=False, device_count=0)


def test_a_working_gpu_needs_no_explaining():
    assert why_no_gpu(WORKING) is None


def test_no_nvidia_driver():
    facts = replace(NOT_STARTING, driver_version=None, driver_cuda=None)
    assert "no NVIDIA driver was found" in why_no_gpu(facts)


def test_a_torch_built_without_cuda_even_with_a_driver():
    facts = replace(NOT_STARTING, torch_version="2.11.0+cpu", torch_cuda=None)
    reason = why_no_gpu(facts)
    assert "built for the CPU only" in reason and "2.11.0+cpu" in reason
    assert "580.159.04 is installed" in reason and "CUDA build of PyTorch" in reason


def test_a_driver_older_than_the_cuda_torch_was_built_with():
    facts = replace(NOT_STARTING, driver_version="470.57.02", driver_cuda="11.4")
    reason = why_no_gpu(facts)
    assert "older than the CUDA 13.0" in reason and "470.57.02" in reason
    assert "runs CUDA up to 11.4" in reason and "Update the driver" in reason
    said = replace(NOT_STARTING, cuda_error="The NVIDIA driver on your system is too old")
    assert "older than the CUDA 13.0" in why_no_gpu(said)


@pytest.mark.parametrize("value", ["", "-1", "NoDevFiles"])
def test_cuda_visible_devices_hiding_the_gpus(value: str):
    reason = why_no_gpu(replace(NOT_STARTING, visible_devices=value))
    assert f"CUDA_VISIBLE_DEVICES is set to '{value}'" in reason and "Unset it" in reason


@pytest.mark.parametrize(
    "broken",
    [
        {"driver_version": None, "driver_cuda": None},
        {"torch_version": "2.11.0+cpu", "torch_cuda": None},
        {"driver_version": "470.57.02", "driver_cuda": "11.4"},
    ],
    ids=["no driver", "cpu-only torch", "old driver"],
)
def test_an_empty_cuda_visible_devices_is_named_even_when_something_else_is_wrong(broken):
    facts = replace(NOT_STARTING, visible_devices="", **broken)
    reason = why_no_gpu(facts)
    assert "CUDA_VISIBLE_DEVICES is set to ''" in reason and "Unset it" in reason
    assert why_no_gpu(replace(facts, visible_devices=None)) in reason  # the other reason stays


def test_a_cuda_visible_devices_that_names_a_gpu_is_not_blamed_when_there_is_no_driver():
    facts = replace(NOT_STARTING, driver_version=None, driver_cuda=None, visible_devices="0")
    assert "CUDA_VISIBLE_DEVICES" not in why_no_gpu(facts)


def test_on_a_mac_whether_apples_mps_is_there():
    mac = replace(NOT_STARTING, platform="darwin", torch_cuda=None, driver_version=None)
    assert "MPS) is present" in why_no_gpu(replace(mac, mps_built=True, mps_available=True))
    assert "macOS 12.3" in why_no_gpu(replace(mac, mps_built=True, mps_available=False))
    assert "without Apple's Metal" in why_no_gpu(mac)


def test_a_driver_that_is_there_but_cuda_still_fails_says_what_cuda_said():
    facts = replace(NOT_STARTING, cuda_error="CUDA unknown error")
    reason = why_no_gpu(facts)
    assert "580.159.04 is installed" in reason and "CUDA unknown error" in reason


def test_the_cpus_matrix_units_are_read_from_its_flags(tmp_path: Path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "model name\t: Xeon\nflags\t\t: fpu sse avx512f avx512_bf16 amx_bf16 amx_tile\n"
    )
    assert cpu_matrix_units(str(info)) == ("amx_bf16", "amx_tile", "avx512_bf16")
    info.write_text("model name\t: Old\nflags\t\t: fpu sse avx2\n")
    assert cpu_matrix_units(str(info)) == ()
    assert cpu_matrix_units(str(tmp_path / "missing")) == ()


def test_the_driver_version_is_read_from_the_kernel_module():
    text = (
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  "
        "(dvs-builder@U22)  Thu Oct  9 2025\nGCC version:  gcc version 12.3.0\n"
    )
    assert parse_driver_version(text) == "580.159.04"
    assert parse_driver_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.57.02") == (
        "470.57.02"
    )
    assert parse_driver_version("") is None


def test_this_machine_lists_the_cpu_first_and_says_why_there_is_no_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    facts = probe_system()
    assert facts.visible_devices == ""
    report = device_report()
    assert report.devices[0].id == "cpu" and report.devices[0].name.startswith("CPU")
    assert report.devices[0].cores and report.devices[0].memory_bytes
    if torch.cuda.is_available():
        assert report.gpu_missing is None and report.devices[1].compute_capability
    else:
        assert report.gpu_missing and "No GPU can be used" in report.to_text()
        assert "CUDA_VISIBLE_DEVICES is set to ''" in report.gpu_missing
    assert report.to_dict()["devices"][0]["id"] == "cpu"


def test_the_command_line_lists_devices_without_any_image():
    out = subprocess.run(
        [sys.executable, "-m", "core", "--devices"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Devices PyTorch can use" in out.stdout and "  cpu " in out.stdout
    if not torch.cuda.is_available():
        assert "No GPU can be used:" in out.stdout
