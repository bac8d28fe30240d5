"""The part of teaching that learns: a new `fc` (and, fine-tuning, `layer4`) trained on the
backbone's outputs, computed once per image and cached (`Features`).

The head trains on standardised features; `HeadTrainer.final_state_dict` folds the
standardisation back into `fc`, so the result is a plain `resnet50(num_classes=N)` state dict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import Cancelled, OutOfDeviceMemoryError
from core.gpu_memory import is_out_of_memory
from core.teach.taught_model import EpochStats, TrainingOptions

FEATURE_DIM = 2048


@dataclass
class Features:
    """Per image: its class, path, clean features, and `augment_passes` augmented ones. With
    fine-tuning, layer3 maps (half precision) instead of pooled features."""

    labels: torch.Tensor
    paths: list[str]
    clean: torch.Tensor
    augmented: torch.Tensor  # (passes, images, ...) ; passes may be 0
    skipped: list[tuple[str, str]]


def trunk(m: Any, x: torch.Tensor) -> torch.Tensor:
    """ResNet50 up to and including layer3: the part that is never trained."""
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer3(m.layer2(m.layer1(x)))


def head_input(m: Any, layer3: torch.Tensor) -> torch.Tensor:
    return torch.flatten(m.avgpool(m.layer4(layer3)), 1)


def stratified_split(
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


def _out_of_memory_or(exc: RuntimeError) -> Exception:
    """A GPU out of memory as the user's error; any other error as it was."""
    if not is_out_of_memory(exc):
        return exc
    return OutOfDeviceMemoryError(
        "The GPU ran out of memory while training. Train without fine-tuning, close "
        "other programs using the GPU, or train on the CPU (--device cpu)."
    )


class HeadTrainer:
    """The head (and, fine-tuning, layer4) on cached backbone outputs."""

    def __init__(
        self,
        module: nn.Module,
        feats: Features,
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
        groups: list[dict[str, Any]] = [
            {"params": self.head.parameters(), "lr": opts.learning_rate}
        ]
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
            return head_input(self.module, x)

    def _logits(self, x: torch.Tensor, grad: bool) -> torch.Tensor:
        f = self._features(x, grad)
        return self.head((f - self.mean) / self.std)

    def epoch(self, epoch: int, stopped: Callable[[], bool]) -> EpochStats:
        """One pass over the training views, then loss and accuracy on both sets."""
        try:
            self.steps(stopped)
            train_loss, train_acc = self._evaluate(self.clean_train_x, self.clean_train_y)
            val_loss, val_acc = self._evaluate(self.val_x, self.val_y)
        except RuntimeError as exc:
            raise _out_of_memory_or(exc) from None
        return EpochStats(epoch, train_loss, train_acc, val_loss, val_acc)

    def steps(self, stopped: Callable[[], bool]) -> None:
        """One pass over the training views in a random order, without measuring anything:
        what a refit on every image runs for the epochs the held-out images chose."""
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
        except RuntimeError as exc:
            raise _out_of_memory_or(exc) from None

    def _probabilities(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat(
                [
                    torch.softmax(self._logits(chunk, grad=False), 1).cpu()
                    for chunk in x.split(self.opts.batch_size)
                ]
            )

    def _evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        if not len(y):  # a refit holds nothing out
            return float("nan"), float("nan")
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
