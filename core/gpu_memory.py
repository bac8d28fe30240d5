"""What every part that runs the network on a GPU needs when it runs out of memory: to know it
(`is_out_of_memory`) and to hand the cached blocks back (`free_cached_memory`)."""

from __future__ import annotations

import torch


def is_out_of_memory(exc: RuntimeError) -> bool:
    """CUDA's own OOM, or cuDNN/cuBLAS failing to allocate their workspace (a plain
    RuntimeError naming the status)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return "out of memory" in text or "ALLOC_FAILED" in text


def free_cached_memory() -> None:
    """Give the CUDA caching allocator's free blocks back, so the next try (or another
    program) can have them."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
