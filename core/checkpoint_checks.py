"""What a checkpoint holds that ResNet50 cannot take, found before torch trips on it.

Each check raises `CheckpointError` with a sentence, or returns a note for the user: a key that
is not a name (an int, a tuple), a tensor that is sparse, quantised or of an 8-bit float type, a
TorchScript archive, and class names that do not fit the model (which are then not used).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from core.errors import CheckpointError
from core.printable import elide_middle, printable

# The dtypes a ResNet50 state dict holds: float weights (any width torch converts exactly
# enough) and the batch-norm counters.
FLOAT_TYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
INT_TYPES = (torch.int64, torch.int32)


def _name(path: Path) -> str:
    return printable(path.name)


def check_keys(state: Mapping[Any, Any], path: Path) -> None:
    """Every key of a state dict is a parameter's name."""
    odd = [k for k in state if not isinstance(k, str)]
    if odd:
        shown = elide_middle(printable(repr(odd[0])), 60)
        raise CheckpointError(
            f"{_name(path)} is not a state dict of ResNet50: {len(odd)} of its keys are not "
            f"names (such as {shown}). Save it with torch.save(model.state_dict(), ...)."
        )


def check_tensors(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Dense tensors of ordinary types only: sparse, quantised and float8 ones cannot be loaded."""
    for key, tensor in state.items():
        kind = None
        if tensor.layout != torch.strided:
            kind = f"a sparse tensor ({str(tensor.layout).removeprefix('torch.')})"
        elif tensor.is_quantized:
            kind = f"a quantised tensor ({str(tensor.dtype).removeprefix('torch.')})"
        elif tensor.dtype not in FLOAT_TYPES + INT_TYPES:
            kind = f"{str(tensor.dtype).removeprefix('torch.')} values"
        if kind is not None:
            raise CheckpointError(
                f"{_name(path)} cannot be loaded: {printable(key)} holds {kind}. Save a dense "
                "float checkpoint, for example torch.save(model.float().state_dict(), ...)."
            )


def check_not_torchscript(path: Path) -> None:
    """A TorchScript archive (torch.jit.save) is code as well as weights, and is not loaded."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    if any(n.endswith("/constants.pkl") or "/code/__torch__/" in n for n in names):
        raise CheckpointError(
            f"{_name(path)} is a TorchScript archive (torch.jit.save): save a state_dict "
            "instead, with torch.save(model.state_dict(), ...)."
        )


def class_names(
    value: Any, key: str, num_classes: int, path: Path
) -> tuple[tuple[str, ...] | None, str]:
    """The checkpoint's class names if they fit the model, else None and a note saying why."""
    if value is None:
        return None, ""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return None, (
            f"{_name(path)}: its {key} are not a list of names, so they are not used; the "
            "classes are shown by number."
        )
    if len(value) != num_classes:
        return None, (
            f"{_name(path)}: its {key} has {len(value)} names for {num_classes} classes, so "
            "they are not used; the classes are shown by number."
        )
    return tuple(value), ""
