"""Teach ResNet50 new classes from a folder of class folders (transfer learning).

The network's ImageNet backbone (or any ResNet50 checkpoint's) stays; its `fc` is replaced by
one with N outputs, as torchvision's fine-tuning recipe does. By default only that layer is
trained, on features computed once per image: the images go through the engine's own decoding,
preprocessing and batching (`Classifier.prepared_batches`), so teaching costs about one pass of
the network per image: 1.22x classifying the same 150 images once on a 2-core CPU
(`benchmarks/training.py`). Light augmentation (a random resized crop, flipped half the time) is
an option: each augmented view is one more pass, made from the same decoded tensors.
`fine_tune=True` also trains `layer4`, on cached `layer3` outputs.

The head trains on standardised features and is folded back into `fc` at the end, so the saved
checkpoint is a plain `resnet50(num_classes=N)` state dict: torchvision loads it strictly, and
`resnet-classify --weights` and the window read its `class_names` as labels.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core import __version__
from core.engine import Classifier, _is_out_of_memory
from core.errors import Cancelled, ClassifierError, OutOfDeviceMemoryError
from core.images import is_image_path
from core.model import LoadedModel, load_checkpoint, load_imagenet
from core.preprocess import Preprocess

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "resnet-classifier/taught-1"
FEATURE_DIM = 2048
FEATURE_BATCH_CPU, FEATURE_BATCH_CUDA = 8, 64
# A class below this many images gets a warning; so does a largest/smallest ratio above the next.
FEW_IMAGES = 10
UNBALANCED_RATIO = 3.0


class TrainingDataError(ClassifierError):
    """The folder cannot be taught from: too few classes, or a class without usable images."""

    exit_code = 2


class CheckpointSaveError(ClassifierError):
    """The trained model could not be written (no space, no permission...)."""

    exit_code = 1


# ---- the folder ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassFolder:
    """One class: its name (the sub-folder's) and its image files, in name order."""

    name: str
    images: tuple[Path, ...]

    @property
    def count(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class ClassFolders:
    """What a folder of class folders holds, before any image is decoded."""

    root: Path
    classes: tuple[ClassFolder, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def total(self) -> int:
        return sum(c.count for c in self.classes)

    def warnings(self) -> list[str]:
        """Sentences about classes too small or too unbalanced to learn well."""
        out = [
            f"'{c.name}' has only {c.count} image{'s' if c.count != 1 else ''}: "
            f"{FEW_IMAGES} or more per class give a more reliable model."
            for c in self.classes
            if c.count < FEW_IMAGES
        ]
        counts = [c.count for c in self.classes if c.count]
        if counts and max(counts) > UNBALANCED_RATIO * min(counts):
            big = max(self.classes, key=lambda c: c.count)
            small = min(self.classes, key=lambda c: c.count)
            out.append(
                f"The classes are unbalanced: '{big.name}' has {big.count} images, "
                f"'{small.name}' {small.count}. Training weighs them equally, but the "
                "small class is learnt from fewer examples."
            )
        return out


def scan_folder(root: str | os.PathLike[str]) -> ClassFolders:
    """List the class sub-folders of `root` and their images (by extension, any depth).

    Raises `TrainingDataError` when there are fewer than two classes or a class has no image.
    Hidden folders are skipped; whether each image decodes is found out while training.
    """
    root = Path(root)
    if not root.is_dir():
        raise TrainingDataError(f"{root} is not a folder.")
    subdirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name.lower(),
    )
    classes = []
    for sub in subdirs:
        images = sorted(
            (p for p in sub.rglob("*") if p.is_file() and is_image_path(p)),
            key=lambda p: str(p).lower(),
        )
        classes.append(ClassFolder(sub.name, tuple(images)))
    if len(classes) < 2:
        loose = any(p.is_file() and is_image_path(p) for p in root.iterdir())
        hint = (
            " The images must be in sub-folders, one per class (for example cats/ and dogs/)."
            if loose or not classes
            else ""
        )
        raise TrainingDataError(
            f"{root.name or root} has {len(classes)} class folder{'s' if len(classes) != 1 else ''}; "
            f"at least two are needed.{hint}"
        )
    empty = [c.name for c in classes if not c.images]
    if empty:
        raise TrainingDataError(
            f"The class folder{'s' if len(empty) > 1 else ''} {_names(empty)} "
            f"{'have' if len(empty) > 1 else 'has'} no images."
        )
    return ClassFolders(root, tuple(classes))


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


# ---- options, progress and results -----------------------------------------------------------
@dataclass(frozen=True)
class TrainingOptions:
    """How to teach. The defaults suit a few dozen to a few thousand images per class."""

    epochs: int = 30
    val_split: float = 0.2
    fine_tune: bool = False
    augment_passes: int = 0  # each costs one more network pass per image (benchmarks/training.py)
    seed: int = 0
    device: str = "auto"
    batch_size: int = 32  # training steps; feature extraction batches as the engine does
    learning_rate: float = 1e-2
    fine_tune_learning_rate: float = 1e-5
    weight_decay: float = 1e-4
    patience: int = 6

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1")
        if not 0.0 < self.val_split < 1.0:
            raise ValueError("val_split must be between 0 and 1 (for example 0.2)")
        if self.augment_passes < 0:
            raise ValueError("augment_passes must be 0 or more")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")


@dataclass(frozen=True)
class EpochStats:
    """One epoch: training loss and accuracy, and the same on the held-out images."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass(frozen=True)
class Progress:
    """Where training is: `stage` is "loading", "features" or "training"; `epoch` is set after
    each epoch."""

    stage: str
    done: int
    total: int
    epoch: EpochStats | None = None


@dataclass(frozen=True)
class Misclassified:
    """A held-out image the final model got wrong."""

    path: str
    true_label: str
    predicted_label: str
    probability: float


@dataclass(frozen=True)
class TrainingResult:
    """A trained model and an honest account of it: accuracy measured on held-out images only."""

    class_names: tuple[str, ...]
    history: tuple[EpochStats, ...]
    best_epoch: int
    val_accuracy: float
    per_class_accuracy: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]
    """confusion[true][predicted], counted on the validation images."""
    misclassified: tuple[Misclassified, ...]
    skipped: tuple[tuple[str, str], ...]
    """(path, reason) of each image that could not be read."""
    train_counts: tuple[int, ...]
    val_counts: tuple[int, ...]
    backbone: str
    device: str
    seconds_loading: float
    seconds_features: float
    seconds_training: float
    options: TrainingOptions
    state_dict: dict[str, torch.Tensor] = field(repr=False, compare=False)

    @property
    def seconds(self) -> float:
        return self.seconds_loading + self.seconds_features + self.seconds_training

    def checkpoint(self) -> dict[str, Any]:
        """What `save_checkpoint` writes: the state dict, class names and metadata (data only)."""
        pre = Preprocess.classic()
        return {
            "state_dict": self.state_dict,
            "class_names": list(self.class_names),
            "meta": {
                "format": CHECKPOINT_FORMAT,
                "architecture": "resnet50",
                "num_classes": len(self.class_names),
                "backbone": self.backbone,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "trained_with": f"resnet-train {__version__}",
                "fine_tuned_layer4": self.options.fine_tune,
                "epochs_run": len(self.history),
                "best_epoch": self.best_epoch,
                "seed": self.options.seed,
                "val_accuracy": self.val_accuracy,
                "per_class_val_accuracy": list(self.per_class_accuracy),
                "train_images": list(self.train_counts),
                "val_images": list(self.val_counts),
                "preprocess": {
                    "resize_size": pre.resize_size,
                    "crop_size": pre.crop_size,
                    "mean": list(pre.mean),
                    "std": list(pre.std),
                },
            },
        }


ProgressCallback = Callable[[Progress], None]
CancelLike = threading.Event | Callable[[], bool] | None


# ---- teaching ----------------------------------------------------------------------------------
def train(
    data: str | os.PathLike[str] | ClassFolders,
    options: TrainingOptions | None = None,
    *,
    backbone: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelLike = None,
) -> TrainingResult:
    """Teach ResNet50 the classes of `data` (a folder of class folders, or its scan).

    `backbone` is a ResNet50 checkpoint file whose layers up to `fc` are used; without it the
    ImageNet weights are (downloaded once, like the classifier's). Raises `TrainingDataError`,
    `ModelLoadError`, `OutOfDeviceMemoryError`, or `Cancelled` when `cancel` is set.
    """
    opts = options or TrainingOptions()
    folders = data if isinstance(data, ClassFolders) else scan_folder(data)
    report = progress or (lambda _p: None)
    stopped = _cancel_check(cancel)
    generator = torch.Generator().manual_seed(opts.seed)

    start = time.perf_counter()
    report(Progress("loading", 0, 1))
    base = load_checkpoint(backbone) if backbone is not None else load_imagenet()
    module = base.module
    module.fc = nn.Identity()
    model = LoadedModel(module, folders.names, Preprocess.classic(), base.source)
    classifier = Classifier(model, opts.device)
    device = classifier.device
    seconds_loading = time.perf_counter() - start
    report(Progress("loading", 1, 1))

    start = time.perf_counter()
    feats = _extract(classifier, folders, opts, generator, report, stopped)
    seconds_features = time.perf_counter() - start
    log.info("features of %d images in %.1f s", len(feats.labels), seconds_features)

    start = time.perf_counter()
    n = len(folders.classes)
    val_mask = _stratified_split(feats.labels, n, opts.val_split, generator)
    trainer = _Trainer(module, feats, val_mask, n, opts, device, generator)
    history: list[EpochStats] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    for epoch in range(1, opts.epochs + 1):
        if stopped():
            raise Cancelled("Training cancelled.")
        stats = trainer.epoch(epoch, stopped)
        history.append(stats)
        report(Progress("training", epoch, opts.epochs, stats))
        if best is None or stats.val_loss < best[0] - 1e-6:
            best = (stats.val_loss, epoch, trainer.snapshot())
        elif epoch - best[1] >= opts.patience:
            log.info("early stop at epoch %d (best %d)", epoch, best[1])
            break
    assert best is not None
    trainer.restore(best[2])
    probs = trainer.val_probabilities()
    seconds_training = time.perf_counter() - start

    state = trainer.final_state_dict()
    classifier.model.module.to("cpu")
    return _summarise(
        folders, feats, val_mask, probs, history, best[1], state, base.source, str(device), opts,
        (seconds_loading, seconds_features, seconds_training),
    )  # fmt: skip


def save_checkpoint(result: TrainingResult, path: str | os.PathLike[str]) -> Path:
    """Write the checkpoint atomically (a partial file never takes the name); clear errors for
    a full disk or a folder that cannot be written."""
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as f:
            torch.save(result.checkpoint(), f)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        import errno

        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CheckpointSaveError(
                f"No space left to save {path.name} in {path.parent} (it needs about 100 MB)."
            ) from None
        raise CheckpointSaveError(
            f"Cannot save {path.name} in {path.parent}: {exc.strerror or exc}."
        ) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


# ---- features ------------------------------------------------------------------------------
@dataclass
class _Features:
    """Per image: its class, path, clean features, and `augment_passes` augmented ones. With
    fine-tuning, layer3 maps (half precision) instead of pooled features."""

    labels: torch.Tensor
    paths: list[str]
    clean: torch.Tensor
    augmented: torch.Tensor  # (passes, images, ...) ; passes may be 0
    skipped: list[tuple[str, str]]


def _extract(
    classifier: Classifier,
    folders: ClassFolders,
    opts: TrainingOptions,
    generator: torch.Generator,
    report: ProgressCallback,
    stopped: Callable[[], bool],
) -> _Features:
    items = [(str(p), i) for i, c in enumerate(folders.classes) for p in c.images]
    label_of = dict(items)
    module = classifier.model.module
    device = classifier.device
    stop = "layer3" if opts.fine_tune else "pool"
    clean: list[torch.Tensor] = []
    augmented: list[list[torch.Tensor]] = [[] for _ in range(opts.augment_passes)]
    labels: list[int] = []
    paths: list[str] = []
    skipped: list[tuple[str, str]] = []
    done = 0
    report(Progress("features", 0, len(items)))
    # small batches on a CPU (cancelling waits for one; throughput is the same), large on a GPU
    batch_size = FEATURE_BATCH_CUDA if device.type == "cuda" else FEATURE_BATCH_CPU
    batches = classifier.prepared_batches([p for p, _ in items], batch_size, stopped)
    for batch in batches:
        good = [p for p in batch if p.tensor is not None]
        skipped.extend((p.path, p.error or "unreadable") for p in batch if p.tensor is None)
        if good:
            x = classifier.stack([p.tensor for p in good])  # type: ignore[misc]
            views = [x] + [_augment(x, generator) for _ in range(opts.augment_passes)]
            out = _forward(module, torch.cat(views), device, stop).split(len(good))
            clean.append(out[0])
            for k in range(opts.augment_passes):
                augmented[k].append(out[k + 1])
            labels.extend(label_of[p.path] for p in good)
            paths.extend(p.path for p in good)
        done += len(batch)
        report(Progress("features", done, len(items)))
    if stopped():
        raise Cancelled("Training cancelled.")
    for path, reason in skipped:
        log.warning("skipped %s: %s", path, reason)
    counts = [0] * len(folders.classes)
    for label in labels:
        counts[label] += 1
    unreadable = [c.name for c, k in zip(folders.classes, counts, strict=True) if k == 0]
    if unreadable:
        raise TrainingDataError(
            f"No image in {_names(unreadable)} could be read; each class needs readable images."
        )
    few = [c.name for c, k in zip(folders.classes, counts, strict=True) if k < 2]
    if few:
        raise TrainingDataError(
            f"{_names(few)} {'has' if len(few) == 1 else 'have'} only one readable image; each "
            "class needs at least two: one to learn from and one to check the model on."
        )
    return _Features(
        labels=torch.tensor(labels),
        paths=paths,
        clean=torch.cat(clean),
        augmented=torch.stack([torch.cat(a) for a in augmented]) if augmented else torch.empty(0),
        skipped=skipped,
    )


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random resized crop (35-100% of the area, aspect 3:4 to 4:3) of each preprocessed
    image, flipped half the time, resized back to the model's input size."""
    n, _, h, w = x.shape
    out = torch.empty_like(x)
    for i in range(n):
        rand = torch.rand(4, generator=generator).tolist()
        area = h * w * (0.35 + 0.65 * rand[0])
        ratio = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * rand[1])
        cw = min(w, round(math.sqrt(area * ratio)))
        ch = min(h, round(math.sqrt(area / ratio)))
        top = int((h - ch) * rand[2])
        left = int((w - cw) * rand[3])
        crop = x[i : i + 1, :, top : top + ch, left : left + cw]
        crop = F.interpolate(
            crop, size=(h, w), mode="bilinear", align_corners=False, antialias=True
        )
        if torch.rand(1, generator=generator).item() < 0.5:
            crop = crop.flip(-1)
        out[i] = crop[0]
    return out


def _forward(module: nn.Module, x: torch.Tensor, device: torch.device, stop: str) -> torch.Tensor:
    """The backbone's pooled features ("pool") or layer3 maps ("layer3"), on the CPU."""
    try:
        with torch.inference_mode():
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = _trunk(module, x)
            if stop == "pool":
                return _head_input(module, y).float().cpu()
            return y.half().cpu()
    except RuntimeError as exc:
        if not _is_out_of_memory(exc):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise OutOfDeviceMemoryError(
            "The GPU ran out of memory while reading the images. Close other programs using "
            "the GPU, or train on the CPU (--device cpu)."
        ) from None


def _trunk(m: Any, x: torch.Tensor) -> torch.Tensor:
    """ResNet50 up to and including layer3: the part that is never trained."""
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer3(m.layer2(m.layer1(x)))


def _head_input(m: Any, layer3: torch.Tensor) -> torch.Tensor:
    return torch.flatten(m.avgpool(m.layer4(layer3)), 1)


# ---- the split and the training loop ---------------------------------------------------------
def _stratified_split(
    labels: torch.Tensor,
    n: int,
    fraction: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """A validation mask holding `fraction` of each class (rounded, at least one image), and
    leaving at least one image of each class to learn from."""
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(n):
        idx = (labels == c).nonzero().flatten()
        k = min(len(idx) - 1, max(1, round(len(idx) * fraction)))
        chosen = idx[torch.randperm(len(idx), generator=generator)[:k]]
        mask[chosen] = True
    return mask


class _Trainer:
    """The head (and, fine-tuning, layer4) on cached backbone outputs."""

    def __init__(
        self,
        module: nn.Module,
        feats: _Features,
        val_mask: torch.Tensor,
        n: int,
        opts: TrainingOptions,
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        self.module = module
        self.opts = opts
        self.device = device
        self.generator = generator
        train_mask = ~val_mask
        self.val_x = feats.clean[val_mask]
        self.val_y = feats.labels[val_mask]
        views = [feats.clean[train_mask]]
        if len(feats.augmented):
            views.extend(a[train_mask] for a in feats.augmented)
        self.train_x = torch.cat(views)
        self.train_y = feats.labels[train_mask].repeat(len(views))
        self.clean_train_x = feats.clean[train_mask]
        self.clean_train_y = feats.labels[train_mask]

        if opts.fine_tune:
            self.layer4 = module.layer4
            self.layer4.train(False)  # batch-norm statistics stay the backbone's
            for p in self.layer4.parameters():
                p.requires_grad_(True)
            self.pooled_train = self._pool(self.clean_train_x)
        else:
            self.layer4 = None
            self.pooled_train = self.clean_train_x
        # standardise with the clean training images' statistics; folded into fc at the end
        self.mean = self.pooled_train.mean(0).to(device)
        # a feature (nearly) constant on the training images must not blow up on another image
        std = self.pooled_train.std(0)
        self.std = std.clamp_min(max(float(std.mean()) * 0.1, 1e-6)).to(device)
        self.head = nn.Linear(FEATURE_DIM, n).to(device)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
            if opts.fine_tune:  # a zero head passes no gradient back to layer4
                self.head.weight.copy_(torch.randn(n, FEATURE_DIM, generator=generator) * 0.01)
        counts = torch.bincount(self.clean_train_y, minlength=n).float()
        self.class_weight = (counts.sum() / (n * counts)).to(device)
        # fine-tuning moves the features under the head: a gentler head keeps up with them
        head_lr = opts.learning_rate / (10 if opts.fine_tune else 1)
        groups: list[dict[str, Any]] = [{"params": self.head.parameters(), "lr": head_lr}]
        if self.layer4 is not None:
            groups.append({"params": self.layer4.parameters(), "lr": opts.fine_tune_learning_rate})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=opts.weight_decay)

    def _pool(self, maps: torch.Tensor) -> torch.Tensor:
        out = []
        with torch.no_grad():
            for chunk in maps.split(self.opts.batch_size):
                out.append(self._features(chunk, grad=False).cpu())
        return torch.cat(out)

    def _features(self, x: torch.Tensor, grad: bool) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.layer4 is None:
            return x
        x = x.float().contiguous(memory_format=torch.channels_last)
        with torch.set_grad_enabled(grad):
            return _head_input(self.module, x)

    def _logits(self, x: torch.Tensor, grad: bool) -> torch.Tensor:
        f = self._features(x, grad)
        return self.head((f - self.mean) / self.std)

    def epoch(self, epoch: int, stopped: Callable[[], bool]) -> EpochStats:
        order = torch.randperm(len(self.train_y), generator=self.generator)
        try:
            for idx in order.split(self.opts.batch_size):
                if stopped():  # a fine-tuning epoch can take a while on a CPU
                    raise Cancelled("Training cancelled.")
                y = self.train_y[idx].to(self.device)
                logits = self._logits(self.train_x[idx], grad=True)
                loss = F.cross_entropy(logits, y, weight=self.class_weight)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
            train_loss, train_acc = self._evaluate(self.clean_train_x, self.clean_train_y)
            val_loss, val_acc = self._evaluate(self.val_x, self.val_y)
        except RuntimeError as exc:
            if not _is_out_of_memory(exc):
                raise
            raise OutOfDeviceMemoryError(
                "The GPU ran out of memory while training. Train without fine-tuning, close "
                "other programs using the GPU, or train on the CPU (--device cpu)."
            ) from None
        return EpochStats(epoch, train_loss, train_acc, val_loss, val_acc)

    def _probabilities(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat(
                [
                    torch.softmax(self._logits(chunk, grad=False), 1).cpu()
                    for chunk in x.split(self.opts.batch_size)
                ]
            )

    def _evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        probs = self._probabilities(x)
        loss = F.nll_loss(torch.log(probs.clamp_min(1e-12)), y).item()
        return loss, (probs.argmax(1) == y).float().mean().item()

    def val_probabilities(self) -> torch.Tensor:
        return self._probabilities(self.val_x)

    def snapshot(self) -> dict[str, torch.Tensor]:
        state = {f"fc.{k}": v.detach().clone() for k, v in self.head.state_dict().items()}
        if self.layer4 is not None:
            state.update(
                {f"layer4.{k}": v.detach().clone() for k, v in self.layer4.state_dict().items()}
            )
        return state

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        self.head.load_state_dict({k[3:]: v for k, v in state.items() if k.startswith("fc.")})
        if self.layer4 is not None:
            self.layer4.load_state_dict(
                {k[7:]: v for k, v in state.items() if k.startswith("layer4.")}
            )

    def final_state_dict(self) -> dict[str, torch.Tensor]:
        """The whole network as `resnet50(num_classes=N)` holds it, on the CPU, with the
        standardisation folded into `fc`: W' = W / std, b' = b - W' . mean."""
        with torch.no_grad():
            weight = self.head.weight / self.std
            bias = self.head.bias - weight @ self.mean
        state = {
            k: v.detach().to("cpu", memory_format=torch.contiguous_format).clone()
            for k, v in self.module.state_dict().items()
            if not k.startswith("fc.")
        }
        state["fc.weight"] = weight.cpu().contiguous()
        state["fc.bias"] = bias.cpu().contiguous()
        return state


def _summarise(
    folders: ClassFolders,
    feats: _Features,
    val_mask: torch.Tensor,
    probs: torch.Tensor,
    history: list[EpochStats],
    best_epoch: int,
    state: dict[str, torch.Tensor],
    backbone: str,
    device: str,
    opts: TrainingOptions,
    seconds: tuple[float, float, float],
) -> TrainingResult:
    n = len(folders.classes)
    names = folders.names
    y = feats.labels[val_mask]
    pred = probs.argmax(1)
    confusion = torch.zeros(n, n, dtype=torch.long)
    for t, p in zip(y.tolist(), pred.tolist(), strict=True):
        confusion[t, p] += 1
    per_class = tuple(
        (confusion[c, c] / confusion[c].sum()).item() if confusion[c].sum() else 0.0
        for c in range(n)
    )
    val_paths = [p for p, v in zip(feats.paths, val_mask.tolist(), strict=True) if v]
    wrong = tuple(
        Misclassified(path, names[t], names[p], float(probs[i, p]))
        for i, (path, t, p) in enumerate(zip(val_paths, y.tolist(), pred.tolist(), strict=True))
        if t != p
    )
    train_counts = torch.bincount(feats.labels[~val_mask], minlength=n).tolist()
    return TrainingResult(
        class_names=names,
        history=tuple(history),
        best_epoch=best_epoch,
        val_accuracy=float((pred == y).float().mean()),
        per_class_accuracy=per_class,
        confusion=tuple(tuple(row) for row in confusion.tolist()),
        misclassified=wrong,
        skipped=tuple(feats.skipped),
        train_counts=tuple(train_counts),
        val_counts=tuple(torch.bincount(y, minlength=n).tolist()),
        backbone=backbone,
        device=device,
        seconds_loading=seconds[0],
        seconds_features=seconds[1],
        seconds_training=seconds[2],
        options=opts,
        state_dict=state,
    )


def _cancel_check(cancel: CancelLike) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel
