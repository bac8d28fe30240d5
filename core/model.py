"""Build ResNet50 and fill it with weights: ImageNet's, or a user's own checkpoint.

A `LoadedModel` travels with its labels and its preprocessing, as torchvision's weights do,
so nothing downstream can pair a model with the wrong transform or the wrong class names.
"""

from __future__ import annotations

import json
import logging
import pickle
import pickletools
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, resnet50

from core import checkpoint_checks as checks
from core.decode.preprocess import Preprocess
from core.errors import CheckpointError, LabelsError
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
    state = _read_state(path)
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
    raw = _read_state(path)
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
        raise CheckpointError(f"{path.name} cannot be loaded: {_first_line(exc)}") from None
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


def _read_state(path: Path) -> Any:
    if not path.exists():
        raise CheckpointError(f"Weights file not found: {path}")
    if path.is_dir():
        raise CheckpointError(
            f"{path} is a folder; choose a weights file (.pth, .pt, .safetensors)."
        )
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path.name} is empty.")
    if path.suffix.lower() == ".safetensors":
        return _read_safetensors(path)
    _check_archive(path)
    checks.check_not_torchscript(path)
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # legacy (non-zip) files cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for damaged files
        log.debug("torch.load failed", exc_info=True)
        if "Unsupported global" in str(exc):
            raise CheckpointError(
                f"{path.name} holds Python objects other than tensors, and a checkpoint is "
                "loaded as data only (weights_only). Save it with "
                "torch.save(model.state_dict(), ...)."
            ) from None
        if _looks_like_safetensors(path):
            return _read_safetensors(path)
        raise CheckpointError(
            f"{path.name} is not a PyTorch checkpoint (corrupt, truncated, or another kind "
            "of file)."
        ) from None


# The pickle of a ResNet50 state dict is tens of kilobytes; a training checkpoint's extras more.
MAX_PICKLE_BYTES = 64 * 1024 * 1024


def _check_archive(path: Path) -> None:
    """Refuse a zip checkpoint whose records declare more data than the file can hold.

    torch saves its records uncompressed, so each is at most the file's size; a small file
    whose records inflate to gigabytes (a zip bomb) would cost that memory inside `torch.load`.
    Only the archive's directory is read here, never a tensor.
    """
    if not zipfile.is_zipfile(path):
        _check_legacy(path)
        return
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    declared = sum(info.file_size for info in infos)
    pickles = [i for i in infos if i.filename.endswith(".pkl")]
    if declared > size or any(i.file_size > MAX_PICKLE_BYTES for i in pickles):
        raise CheckpointError(
            f"{path.name} is damaged or hostile: it declares {declared / 1e6:,.0f} MB of "
            f"records in a {size / 1e6:,.1f} MB file."
        )


# torch's legacy (non-zip) format: pickles of a magic number, the format's version and the
# system's, then the object's own pickle, the storages' keys, and each storage's raw bytes.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# A legacy file is read whole into memory (a zip one is memory-mapped). A ResNet50 is 98 MB; with
# a training run's optimizer state and a head of 10,000 classes, about 450 MB.
MAX_LEGACY_BYTES = 1024 * 1024 * 1024
_STORAGE_ITEM_BYTES = {
    "DoubleStorage": 8,
    "LongStorage": 8,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
    "FloatStorage": 4,
    "IntStorage": 4,
    "QInt32Storage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "ShortStorage": 2,
}  # every other storage (bytes, bools, quantised, untyped): 1 byte an item


def _check_legacy(path: Path) -> None:
    """Refuse a legacy checkpoint that is too large, or whose storages declare more bytes
    than the file holds, or whose object pickle is over `MAX_PICKLE_BYTES`, as `_check_archive`
    does for zip files. Only the pickles' opcodes are read, never an object or a tensor.
    """
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            head = f.read(max(map(len, _LEGACY_HEADS)))
            magic = next((h for h in _LEGACY_HEADS if head.startswith(h)), None)
            if magic is None:
                return  # not torch's legacy format: torch.load says what it is
            if size > MAX_LEGACY_BYTES:
                raise CheckpointError(
                    f"{path.name} is an old-format PyTorch file of {size / 1e6:,.0f} MB. Such "
                    "files are read whole into memory, and a ResNet50 checkpoint needs far less "
                    f"(at most {MAX_LEGACY_BYTES / 1e6:,.0f} MB here). Save the model's "
                    "state_dict again with a current torch.save."
                )
            f.seek(len(magic))
            for _ in range(2):  # the format's version, the system's
                for _ in pickletools.genops(f):
                    pass
            pickle_bytes, declared = _scan_object_pickle(f)
    except CheckpointError:
        raise
    except Exception:  # unreadable pickles: torch.load will refuse the file with its reason
        log.debug("legacy checkpoint scan failed", exc_info=True)
        return
    if declared > size or pickle_bytes > MAX_PICKLE_BYTES:
        raise CheckpointError(
            f"{path.name} is damaged or hostile: it declares {declared / 1e6:,.0f} MB of "
            f"tensors and {pickle_bytes / 1e6:,.1f} MB of objects in a {size / 1e6:,.1f} MB file."
        )


_LEGACY_HEADS = tuple(
    pickle.dumps(_LEGACY_MAGIC, protocol=p) for p in range(2, pickle.HIGHEST_PROTOCOL + 1)
)
_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})
_INT = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})


def _scan_object_pickle(f: BinaryIO) -> tuple[int, int]:
    """(length of the object pickle at `f`, bytes its storages declare), from its opcodes.

    Each storage is pickled as a persistent id ("storage", <torch.XStorage>, key, location,
    item count, ...): after a storage class, the first string is its key (a storage shared by
    several tensors is counted once) and the first integer its item count. Classes and keys
    are pickled once and fetched from the memo after that.
    """
    start = f.tell()
    memo: dict[int, tuple[str, object] | None] = {}
    last: tuple[str, object] | None = None  # what the previous opcode pushed, if it matters
    storage: str | None = None
    key: object = None
    items: int | None = None
    seen: set[object] = set()
    declared = 0
    for op, arg, _ in pickletools.genops(f):
        if f.tell() - start > MAX_PICKLE_BYTES:
            break
        name = op.name
        if name in _PUT:
            memo[len(memo) if name == "MEMOIZE" else arg] = last
            continue
        if name in _GET:
            last = memo.get(arg)
        elif name == "GLOBAL":
            last = ("class", arg)
        elif "STRING" in name or "UNICODE" in name:
            last = ("text", arg)
        else:
            last = None
        module, _, cls = (
            str(last[1]).partition(" ") if last and last[0] == "class" else ("", "", "")
        )
        if module.split(".")[0] == "torch" and cls.endswith("Storage"):
            storage, key, items = cls, None, None
        elif storage is None:
            continue
        elif last and last[0] == "text" and key is None:
            key = last[1]
        elif name in _INT and items is None:
            items = arg
        elif name == "BINPERSID":
            if key not in seen:
                seen.add(key)
                declared += (items or 0) * _STORAGE_ITEM_BYTES.get(storage, 1)
            storage = None
    return f.tell() - start, declared


def _looks_like_safetensors(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path.name} is not a readable safetensors file: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


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
    """ResNet50 with uninitialised tensors: random initialisation costs about half a second at
    start-up and every tensor is overwritten by the strict load that always follows."""
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
