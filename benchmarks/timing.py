"""Small timing helpers: interleaved rounds, medians, machine description."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator


def log(msg: str) -> None:
    """A timestamped progress line on stderr (the results go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def interleaved(
    variants: dict[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Time each variant once per round, the variants taking turns, so that a load that comes
    and goes on a shared machine falls on all of them alike. Returns seconds per call."""
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def summary(seconds: list[float], scale: float = 1000.0) -> dict[str, float]:
    """Median, min and max in ms (or whatever `scale` gives) and the number of samples."""
    return {
        "median": round(statistics.median(seconds) * scale, 2),
        "min": round(min(seconds) * scale, 2),
        "max": round(max(seconds) * scale, 2),
        "n": len(seconds),
    }


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def machine() -> dict[str, object]:
    import PIL
    import torch
    import torchvision

    from core import cpu_model

    info: dict[str, object] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


@contextlib.contextmanager
def cudnn_benchmark(on: bool) -> Iterator[None]:
    """cuDNN's autotuner on or off for the enclosed runs: a baseline runs as a user would have
    it (off), ours as the engine sets it (on)."""
    import torch

    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved
