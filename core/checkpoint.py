"""Vetting a checkpoint file before and while it is read: only tensors, in bounded memory.

A `.pth` is loaded with `torch.load(weights_only=True)`. Before that, what it declares is
checked against what it is: a zip archive's records against the file's size and its pickle
against `MAX_PICKLE_BYTES`; a legacy (non-zip) file, which is read whole, against
`MAX_LEGACY_BYTES` and its storages' declared sizes. A small hostile file cannot make the
loader allocate gigabytes. Safetensors files are read by their own library.
"""

from __future__ import annotations

import logging
import pickle
import pickletools
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import torch

import core.checkpoint_checks as checks
from core.errors import CheckpointError, first_line

log = logging.getLogger(__name__)


def read_state(path: Path) -> Any:
    """The tensors a checkpoint file holds (a state dict, maybe wrapped), read as data only;
    `CheckpointError` with a sentence for anything else, checked before it is loaded."""
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
            f"{path.name} is not a readable safetensors file: {first_line(exc, 200)}"
        ) from None
