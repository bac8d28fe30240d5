"""Which devices a user can choose, by a name a person recognises."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

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


def cpu_matrix_units(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """The CPU's bf16/int8 matrix and dot-product units (AMX tiles, AVX-512 BF16) as Linux
    lists them in its flags; empty where it lists none or the file is not there."""
    wanted = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16")
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return tuple(u for u in wanted if u in flags)
    except OSError:
        pass
    return ()


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


# ---- the device doctor: every device torch can use, and why a GPU is missing ----------------
@dataclass(frozen=True)
class SystemFacts:
    """What the doctor looks at. Gathered by `probe_system`; the tests build their own to
    stand for machines this one is not (no driver, a CPU-only torch, an old driver...)."""

    platform: str  # sys.platform: "linux", "win32", "darwin"
    torch_version: str
    torch_cuda: str | None  # the CUDA version this torch was built with; None: CPU-only build
    cuda_available: bool
    device_count: int
    visible_devices: str | None  # CUDA_VISIBLE_DEVICES as set, None when unset
    driver_version: str | None  # the NVIDIA driver, e.g. "580.159.04"; None: none found
    driver_cuda: str | None  # the newest CUDA that driver runs, e.g. "13.0"
    cuda_error: str | None = None  # what CUDA said when it would not start
    mps_built: bool = False
    mps_available: bool = False


@dataclass(frozen=True)
class DeviceDetails:
    """One device as the doctor lists it; fields that do not apply are None."""

    id: str
    name: str
    memory_bytes: int | None = None
    compute_capability: str | None = None
    driver: str | None = None
    cuda_runtime: str | None = None
    cudnn: str | None = None
    cores: int | None = None
    matrix_units: str | None = None  # the CPU's, e.g. "amx_bf16 amx_int8 amx_tile avx512_bf16"

    def describe(self) -> str:
        parts = [self.name]
        if self.cores:
            parts.append(f"{self.cores} cores")
        if self.matrix_units:
            parts.append(f"matrix units {self.matrix_units}")
        if self.memory_bytes:
            parts.append(f"{self.memory_bytes / 2**30:.1f} GiB")
        for label, value in (
            ("compute capability", self.compute_capability),
            ("driver", self.driver),
            ("CUDA runtime", self.cuda_runtime),
            ("cuDNN", self.cudnn),
        ):
            if value:
                parts.append(f"{label} {value}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class DeviceReport:
    """Every device torch can use here, and, when no GPU is usable, the reason in words."""

    devices: tuple[DeviceDetails, ...]
    gpu_missing: str | None
    torch_version: str
    torch_cuda: str | None

    def to_text(self) -> str:
        build = f"CUDA {self.torch_cuda} build" if self.torch_cuda else "CPU-only build"
        lines = [f"Devices PyTorch can use (torch {self.torch_version}, {build}):"]
        lines += [f"  {d.id:<8} {d.describe()}" for d in self.devices]
        if self.gpu_missing:
            lines += ["", f"No GPU can be used: {self.gpu_missing}"]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, object]:
        return {
            "devices": [d.to_dict() for d in self.devices],
            "gpu_missing": self.gpu_missing,
            "torch": self.torch_version,
            "torch_cuda": self.torch_cuda,
        }


def probe_system() -> SystemFacts:
    """Look at this machine: torch's build, CUDA, the NVIDIA driver, the environment, MPS."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
        count = torch.cuda.device_count() if available else 0
    error = next((str(w.message) for w in caught if "CUDA" in str(w.message)), None)
    mps = getattr(torch.backends, "mps", None)
    return SystemFacts(
        platform=sys.platform,
        torch_version=torch.__version__,
        torch_cuda=torch.version.cuda,
        cuda_available=available,
        device_count=count,
        visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        driver_version=nvidia_driver_version(),
        driver_cuda=driver_cuda_version(),
        cuda_error=error,
        mps_built=bool(mps and mps.is_built()),
        mps_available=bool(mps and mps.is_available()),
    )


def why_no_gpu(f: SystemFacts) -> str | None:
    """The reason no GPU is usable, as a sentence with what to do; None when one is."""
    if f.cuda_available and f.device_count > 0:
        return None
    if f.platform == "darwin":
        if f.mps_available:
            mps = "Apple's Metal GPU (MPS) is present, but this app runs its model on the CPU."
        elif f.mps_built:
            mps = (
                "Apple's Metal GPU (MPS) is not available on this Mac: it needs macOS 12.3 or "
                "later on Apple silicon or an AMD GPU."
            )
        else:
            mps = "This PyTorch was built without Apple's Metal GPU support (MPS)."
        return f"macOS has no CUDA, so NVIDIA GPUs cannot be used on a Mac. {mps}"
    hidden = _visible_devices_sentence(f.visible_devices) if hides_all_gpus(f) else None
    first = _first_reason(f)
    if first is None:
        return hidden or _no_usable_gpu(f)
    return f"{first} Also, {hidden}" if hidden else first


def hides_all_gpus(f: SystemFacts) -> bool:
    """Whether CUDA_VISIBLE_DEVICES, as set, leaves CUDA no GPU to see: empty, or a first entry
    that is neither an index nor a GPU-/MIG- id (CUDA stops reading at the first bad one)."""
    if f.visible_devices is None:
        return False
    first = f.visible_devices.split(",")[0].strip()
    return not re.fullmatch(r"\d+|(GPU|MIG)-[\w-]+", first)


def _visible_devices_sentence(value: str | None) -> str:
    return (
        f"CUDA_VISIBLE_DEVICES is set to '{value}', which hides every GPU from "
        "this program. Unset it, or set it to the GPU's number (for example 0), and start "
        "again."
    )


def _first_reason(f: SystemFacts) -> str | None:
    """The build, driver or version reason, if one applies; None when those look right."""
    if f.torch_cuda is None:
        driver = f" (although the NVIDIA driver {f.driver_version} is installed)"
        return (
            f"this PyTorch ({f.torch_version}) was built for the CPU only, so it cannot use a "
            f"GPU{driver if f.driver_version else ''}. Install a CUDA build of PyTorch "
            "(pytorch.org, Get Started) to use an NVIDIA GPU."
        )
    if not f.driver_version and not f.driver_cuda:
        return (
            "no NVIDIA driver was found: this computer has no NVIDIA GPU, or its driver is not "
            "installed. If it has one, install NVIDIA's driver for it (nvidia.com/drivers)."
        )
    too_old = "too old" in (f.cuda_error or "").lower()
    if too_old or (f.driver_cuda and _major(f.driver_cuda) < _major(f.torch_cuda)):
        runs = f", which runs CUDA up to {f.driver_cuda}" if f.driver_cuda else ""
        return (
            f"the NVIDIA driver ({f.driver_version or 'installed'}{runs}) is older than the "
            f"CUDA {f.torch_cuda} this PyTorch was built with. Update the driver "
            "(nvidia.com/drivers), or install a PyTorch built for an older CUDA."
        )
    return None


def _no_usable_gpu(f: SystemFacts) -> str:
    if f.visible_devices is not None:  # a list of GPUs this machine may not have
        return _visible_devices_sentence(f.visible_devices)
    driver = f"the NVIDIA driver {f.driver_version}" if f.driver_version else "an NVIDIA driver"
    said = f" CUDA said: {f.cuda_error}" if f.cuda_error else ""
    return (
        f"{driver} is installed but CUDA found no usable GPU.{said} Restarting the computer "
        "after a driver update often fixes this."
    )


def device_report(facts: SystemFacts | None = None) -> DeviceReport:
    """The doctor's answer for this machine (or for `facts`, which the tests simulate)."""
    real = facts is None
    f = facts or probe_system()
    units = " ".join(cpu_matrix_units()) or None
    devices = [
        DeviceDetails(
            "cpu",
            cpu_name(),
            memory_bytes=_total_memory(),
            cores=os.cpu_count(),
            matrix_units=units,
        )
    ]
    if real and f.cuda_available:
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        for i in range(f.device_count):
            props = torch.cuda.get_device_properties(i)
            devices.append(
                DeviceDetails(
                    f"cuda:{i}",
                    props.name,
                    memory_bytes=props.total_memory,
                    compute_capability=f"{props.major}.{props.minor}",
                    driver=f.driver_version,
                    cuda_runtime=f.torch_cuda,
                    cudnn=_cudnn_text(cudnn),
                )
            )
    return DeviceReport(tuple(devices), why_no_gpu(f), f.torch_version, f.torch_cuda)


def nvidia_driver_version(proc: str = "/proc/driver/nvidia/version") -> str | None:
    """The NVIDIA driver's version: from the kernel module on Linux, else from nvidia-smi."""
    try:
        with open(proc, encoding="utf-8", errors="replace") as fh:
            found = parse_driver_version(fh.read())
        if found:
            return found
    except OSError:
        pass
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out else None


def parse_driver_version(text: str) -> str | None:
    """The version in /proc/driver/nvidia/version's first line."""
    found = re.search(r"Kernel Module.*?\s(\d+\.\d+(?:\.\d+)?)(?:\s|$)", text)
    return found[1] if found else None


def driver_cuda_version() -> str | None:
    """The newest CUDA the installed driver runs ("13.0"), asked of the driver library itself;
    None when there is no driver library."""
    import ctypes

    names = {"win32": ["nvcuda.dll"], "darwin": []}.get(
        sys.platform, ["libcuda.so.1", "libcuda.so"]
    )
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        try:
            if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value:
                return f"{version.value // 1000}.{version.value % 1000 // 10}"
        except AttributeError:
            return None
    return None


def _major(version: str | None) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


def _cudnn_text(version: int | None) -> str | None:
    if not version:
        return None
    if version >= 90000:  # cuDNN 9: major * 10000 + minor * 100 + patch
        return f"{version // 10000}.{version % 10000 // 100}.{version % 100}"
    return f"{version // 1000}.{version % 1000 // 100}.{version % 100}"


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
