"""Build ResNet50 and fill it with weights: ImageNet's, or a user's own checkpoint.

A `LoadedModel` travels with its labels and its preprocessing, as torchvision's weights do,
so nothing downstream can pair a model with the wrong transform or the wrong class names.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, resnet50

import core.checkpoint_checks as checks
from core.checkpoint import read_state
from core.decode.preprocess import Preprocess
from core.errors import CheckpointError, LabelsError, first_line
from core.weights import DEFAULT_VARIANT, ProgressCallback, ensure_weights, weights_enum

log = logging.getLogger(__name__)

LABEL_KEYS = ("class_names", "classes", "labels", "categories", "idx_to_class")
IMAGENET_LABELS: tuple[str, ...] = tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


@dataclass(frozen=True)
class LoadedModel:
    """A ResNet50 on the CPU in eval mode, with what belongs to it."""

    module: nn.Module
    labels: tuple[str, ...]
    preprocess: Preprocess
    source: str
    notes: tuple[str, ...] = ()  # what the user should know: class names that were not used

    @property
    def num_classes(self) -> int:
        return len(self.labels)


def load_imagenet(
    variant: str = DEFAULT_VARIANT,
    progress: ProgressCallback | None = None,
    cancel: Any = None,
) -> LoadedModel:
    """torchvision's ResNet50 with ImageNet weights and their own preprocessing."""
    weights = weights_enum(variant)
    path = ensure_weights(variant, progress=progress, cancel=cancel)
    state = read_state(path)
    model = _empty_resnet50()
    _load_strict(model, state, path)
    model.eval()
    return LoadedModel(
        module=model,
        labels=tuple(weights.meta["categories"]),
        preprocess=Preprocess.from_weights(weights),
        source=f"ResNet50 {weights.name}",
    )


def load_checkpoint(path: str | Path, labels_path: str | Path | None = None) -> LoadedModel:
    """A user's ResNet50 checkpoint, of any class count, with the classic ImageNet eval crop."""
    path = Path(path)
    raw = read_state(path)
    state, (label_key, label_value) = _unwrap(raw, path)
    fc = state.get("fc.weight")
    if not isinstance(fc, torch.Tensor) or fc.ndim != 2:
        raise CheckpointError(
            f"{path.name} is not a ResNet50 checkpoint: it has no classifier layer (fc.weight)."
        )
    num_classes = int(fc.shape[0])
    if num_classes < 1:
        raise CheckpointError(
            f"{path.name} cannot classify anything: its classifier layer (fc) has no classes."
        )
    model = _empty_resnet50(num_classes)
    try:
        _load_strict(model, state, path)
    except (RuntimeError, TypeError, ValueError) as exc:  # what the checks did not foresee
        raise CheckpointError(f"{path.name} cannot be loaded: {first_line(exc, 200)}") from None
    model.eval()
    stored, note = checks.class_names(label_value, label_key, num_classes, path)
    if labels_path is not None:
        labels, note = read_labels(labels_path, num_classes), ""
    elif stored is not None:
        labels = stored
    elif num_classes == len(IMAGENET_LABELS) and not note:
        labels = IMAGENET_LABELS
    else:
        labels = tuple(f"class {i}" for i in range(num_classes))
    return LoadedModel(
        module=model,
        labels=labels,
        preprocess=Preprocess.classic(),
        source=path.name,
        notes=(note,) if note else (),
    )


def read_labels(path: str | Path, num_classes: int | None = None) -> tuple[str, ...]:
    """Labels from a text file (one per line) or a JSON list."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LabelsError(f"Labels file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"Cannot read labels file {path.name}: {exc}") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelsError(
                f"{path.name} is not valid JSON: {exc.msg} (line {exc.lineno})."
            ) from None
        if isinstance(data, dict):
            data = _dense_list(data)
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise LabelsError(
                f"{path.name} must hold a JSON list of label strings, or an object whose keys "
                'are the class numbers "0" to "N-1", each once.'
            )
        labels = tuple(data)
    else:
        labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if num_classes is not None and len(labels) != num_classes:
        raise LabelsError(
            f"{path.name} has {len(labels)} labels but the model has {num_classes} classes."
        )
    return labels


def _dense_list(data: dict[str, Any]) -> list[Any] | None:
    """{"0": a, "1": b, ...} as [a, b, ...]; None unless the keys are exactly 0..N-1.

    ASCII digits only ("²" is a digit to `str.isdigit` but not to `int`), and no gaps: with
    "0", "1", "7" nobody can say which label belongs to class 2.
    """
    numbered: dict[int, Any] = {}
    for key, value in data.items():
        if not (key.isascii() and key.isdecimal()) or (len(key) > 1 and key[0] == "0"):
            return None
        numbered[int(key)] = value
    if sorted(numbered) != list(range(len(numbered))):
        return None
    return [numbered[i] for i in range(len(numbered))]


def _unwrap(raw: Any, path: Path) -> tuple[dict[str, torch.Tensor], tuple[str, Any]]:
    """Find the state dict in a training checkpoint and strip DataParallel's `module.`; and the
    class names it stores, as (key, value), to be judged against the model."""
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"{path.name} does not hold a state dict of tensors.")
    checks.check_keys(raw, path)
    labels: tuple[str, Any] = ("", None)
    for key in LABEL_KEYS:
        value = raw.get(key)
        if value is not None and not (isinstance(value, (list, tuple)) and not value):
            labels = (key, value)
            break
    state: Any = raw
    for key in ("state_dict", "model_state_dict", "model"):
        inner = raw.get(key)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            state = inner
            break
    checks.check_keys(state, path)
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path.name} holds no tensors.")
    for prefix in ("module.", "model.", "_orig_mod."):
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
    return tensors, labels


def _empty_resnet50(num_classes: int = 1000) -> nn.Module:
    """ResNet50 whose tensors the strict load that always follows overwrites.

    Built on the meta device, without random initialisation (35 ms against 165 ms here), where
    torch._dynamo is loaded already: the meta device's initialisers import it (0.85 s), which
    the engine's imports leave out (`core.imports`)."""
    if "torch._dynamo" not in sys.modules:
        return resnet50(weights=None, num_classes=num_classes)
    with torch.device("meta"):
        model = resnet50(weights=None, num_classes=num_classes)
    return model.to_empty(device="cpu")


def _load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Load all tensors or none, with a short message naming what does not fit."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} (file {_shape(state[k])}, ResNet50 {_shape(v)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        for title, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        ):
            if items:
                shown = ", ".join(items[:3]) + (
                    f" and {len(items) - 3} more" if len(items) > 3 else ""
                )
                parts.append(f"{len(items)} {title}: {shown}")
        raise CheckpointError(f"{path.name} does not fit ResNet50. " + "; ".join(parts) + ".")
    checks.check_tensors(state, path)
    _check_finite(state, path)
    model.load_state_dict(state, strict=True)


def _check_finite(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Flipped bytes or NaN/inf in the weights load fine, then every probability is NaN."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{path.name} is damaged: {key} holds NaN or infinite values. Save the "
                "checkpoint again from the trained model, or choose another file."
            )


def _shape(t: torch.Tensor) -> str:
    return "x".join(str(d) for d in t.shape) or "scalar"


def load_model(
    weights: str | Path | None = None,
    labels: str | Path | None = None,
    variant: str = DEFAULT_VARIANT,
    progress: ProgressCallback | None = None,
    cancel: Any = None,
) -> LoadedModel:
    """The user's checkpoint if one is given, else the ImageNet model (downloaded once)."""
    if weights is not None:
        return load_checkpoint(weights, labels)
    model = load_imagenet(variant, progress=progress, cancel=cancel)
    if labels is not None:
        model = LoadedModel(
            model.module, read_labels(labels, model.num_classes), model.preprocess, model.source
        )
    return model
