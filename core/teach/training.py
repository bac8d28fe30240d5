"""Teach ResNet50 new classes from a folder of class folders (transfer learning).

The network's ImageNet backbone (or any ResNet50 checkpoint's) stays; its `fc` is replaced by
one with N outputs, as torchvision's fine-tuning recipe does. By default only that layer is
trained, on features computed once per image: the images go through the Pillow decoder's
batches (`core.decode.PillowDecoder`, as the engine decodes off CUDA), so teaching costs about one pass of
the network per image: 1.22x classifying the same 150 images once on a 2-core CPU
(`benchmarks/training.py`). Light augmentation (a random resized crop, flipped half the time) is
an option: each augmented view is one more pass, made from the same decoded tensors.
`fine_tune=True` also trains `layer4`, on cached `layer3` outputs.

The held-out images (`val_split` of each class) choose the epoch by early stopping; then, by
default, a fresh head learns from every image, held-out ones included, for that many epochs, and
that is the model saved. The accuracy reported stays the one measured on held-out images by the
model that never saw them. With 3 classes of 20 images this learns from 20 images per class
instead of 16 (`benchmarks/teaching_accuracy.py` measures both against a logistic regression).

The head trains on standardised features and is folded back into `fc` at the end, so the saved
checkpoint is a plain `resnet50(num_classes=N)` state dict: torchvision loads it strictly, and
`resnet-classify --weights` and the window read its `class_names` as labels.

This module runs a teaching from start to end and computes the features; the folder is listed
by `core.teach.class_folders`, the head trained by `core.teach.head_training`, and the options, progress and
result are the values of `core.teach.taught_model` (all importable from here, as before).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core.cancel import CancelLike, stop_check
from core.decode.pillow import PillowDecoder
from core.decode.preprocess import Preprocess
from core.engine import Classifier
from core.errors import Cancelled, OutOfDeviceMemoryError
from core.gpu_memory import free_cached_memory, is_out_of_memory
from core.model import LoadedModel, load_checkpoint, load_imagenet
from core.teach.class_folders import (
    ClassFolder,
    ClassFolders,
    TrainingDataError,
    quoted_names,
    scan_folder,
)
from core.teach.head_training import Features, HeadTrainer, head_input, stratified_split, trunk
from core.teach.taught_model import (
    CHECKPOINT_FORMAT,
    CheckpointSaveError,
    EpochStats,
    Misclassified,
    Progress,
    TrainingOptions,
    TrainingResult,
    save_checkpoint,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointSaveError",
    "ClassFolder",
    "ClassFolders",
    "EpochStats",
    "Misclassified",
    "Progress",
    "TrainingDataError",
    "TrainingOptions",
    "TrainingResult",
    "save_checkpoint",
    "scan_folder",
    "train",
]

log = logging.getLogger(__name__)

FEATURE_BATCH_CPU, FEATURE_BATCH_CUDA = 8, 64

ProgressCallback = Callable[[Progress], None]


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
    stopped = stop_check(cancel)
    generator = torch.Generator().manual_seed(opts.seed)

    start = time.perf_counter()
    report(Progress("loading", 0, 1))
    base = load_checkpoint(backbone) if backbone is not None else load_imagenet()
    module = base.module
    module.fc = nn.Identity()
    model = LoadedModel(module, folders.names, Preprocess.classic(), base.source)
    # Pillow on every device: the same features wherever a class is taught
    classifier = Classifier(model, opts.device, decoder=PillowDecoder())
    device = classifier.device
    seconds_loading = time.perf_counter() - start
    report(Progress("loading", 1, 1))

    start = time.perf_counter()
    feats = _extract(classifier, folders, opts, generator, report, stopped)
    seconds_features = time.perf_counter() - start
    log.info("features of %d images in %.1f s", len(feats.labels), seconds_features)

    start = time.perf_counter()
    n = len(folders.classes)
    val_mask = stratified_split(feats.labels, n, opts.val_split, generator)
    layer4_start = {k: v.clone() for k, v in module.layer4.state_dict().items()}
    trainer = HeadTrainer(module, feats, val_mask, n, opts, device, generator)
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
    state = trainer.final_state_dict()
    refit_epochs = 0
    if opts.refit_on_all:
        module.layer4.load_state_dict(layer4_start)  # fine-tuning starts layer4 afresh too
        everything = torch.zeros_like(val_mask)
        refit = HeadTrainer(module, feats, everything, n, opts, device, generator)
        for epoch in range(1, best[1] + 1):
            refit.steps(stopped)
            report(Progress("refitting", epoch, best[1]))
        state, refit_epochs = refit.final_state_dict(), best[1]
    seconds_training = time.perf_counter() - start

    classifier.model.module.to("cpu")
    result = _summarise(
        folders, feats, val_mask, probs, history, best[1], state, base.source, str(device), opts,
        (seconds_loading, seconds_features, seconds_training),
    )  # fmt: skip
    return replace(result, refit_epochs=refit_epochs)


def _extract(
    classifier: Classifier,
    folders: ClassFolders,
    opts: TrainingOptions,
    generator: torch.Generator,
    report: ProgressCallback,
    stopped: Callable[[], bool],
) -> Features:
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
    pre = classifier.model.preprocess
    batches = classifier.decoder.batches([p for p, _ in items], pre, device, batch_size, stopped)
    for batch in batches:
        good = [name for name, row in zip(batch.names, batch.rows, strict=True) if row is not None]
        skipped.extend(
            (name, error or "unreadable")
            for name, row, error in zip(batch.names, batch.rows, batch.errors, strict=True)
            if row is None
        )
        x = batch.input(device)
        if x is not None:
            views = [x] + [_augment(x, generator) for _ in range(opts.augment_passes)]
            out = _forward(module, torch.cat(views), device, stop).split(len(good))
            clean.append(out[0])
            for k in range(opts.augment_passes):
                augmented[k].append(out[k + 1])
            labels.extend(label_of[name] for name in good)
            paths.extend(good)
        done += len(batch.names)
        report(Progress("features", done, len(items)))
    if stopped():
        raise Cancelled("Training cancelled.")
    for path, reason in skipped:
        log.info("skipped %s: %s", path, reason)  # the summary lists them
    counts = [0] * len(folders.classes)
    for label in labels:
        counts[label] += 1
    unreadable = [c.name for c, k in zip(folders.classes, counts, strict=True) if k == 0]
    if unreadable:
        raise TrainingDataError(
            f"No image in {quoted_names(unreadable)} could be read; "
            "each class needs readable images."
        )
    few = [c.name for c, k in zip(folders.classes, counts, strict=True) if k < 2]
    if few:
        raise TrainingDataError(
            f"{quoted_names(few)} {'has' if len(few) == 1 else 'have'} only one readable image; each "
            "class needs at least two: one to learn from and one to check the model on."
        )
    return Features(
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
            y = trunk(module, x)
            if stop == "pool":
                return head_input(module, y).float().cpu()
            return y.half().cpu()
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        free_cached_memory()
        raise OutOfDeviceMemoryError(
            "The GPU ran out of memory while reading the images. Close other programs using "
            "the GPU, or train on the CPU (--device cpu)."
        ) from None


def _summarise(
    folders: ClassFolders,
    feats: Features,
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
        held_out=tuple(
            (float(p), bool(ok))
            for p, ok in zip(probs.max(1).values.tolist(), (pred == y).tolist(), strict=True)
        ),
        held_out_paths=tuple(str(p) for p in val_paths),
        data_folder=str(Path(folders.root).resolve()),
    )
