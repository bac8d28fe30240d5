"""Which devices a user can choose, by a name a person recognises."""

from __future__ import annotations

import platform

import torch

from core.errors import DeviceUnavailableError
from core.results import DeviceInfo


def cpu_model() -> str:
    """The processor's marketing name where the OS tells it, else its architecture."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name


def cpu_name() -> str:
    name = cpu_model()
    return f"CPU ({name})" if name else "CPU"


def available_devices() -> list[DeviceInfo]:
    """CPU first, then each CUDA GPU that is really usable here."""
    devices = [DeviceInfo("cpu", cpu_name())]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            devices.append(DeviceInfo(f"cuda:{i}", f"GPU {i}: {torch.cuda.get_device_name(i)}"))
    return devices


def resolve_device(spec: str = "auto") -> torch.device:
    """`auto`, `cpu`, `cuda` or `cuda:N` to a device that exists, or a clear error."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise DeviceUnavailableError(
            f"Unknown device '{spec}'. Use auto, cpu, cuda or cuda:N."
        ) from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise DeviceUnavailableError(f"Unsupported device '{spec}'. Use auto, cpu, cuda or cuda:N.")
    if not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"No CUDA GPU is available on this machine, so '{spec}' cannot be used. "
            "Use --device cpu (or auto)."
        )
    count = torch.cuda.device_count()
    index = 0 if device.index is None else device.index
    if index >= count:
        raise DeviceUnavailableError(
            f"There is no GPU {index}: this machine has {count} (cuda:0 to cuda:{count - 1})."
        )
    return torch.device("cuda", index)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()
