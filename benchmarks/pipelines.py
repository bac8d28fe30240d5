"""The pipelines being compared: the naive loop a user would write, the model alone, ours."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

from benchmarks.data import IMAGENET_MEAN, IMAGENET_STD


def reference_transform() -> T.Compose:
    """torchvision's documented evaluation recipe, on a PIL image."""
    return T.Compose(
        [T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )


def plain_model(checkpoint: Path, device: str = "cpu") -> torch.nn.Module:
    """ResNet50 as a user would build it: default layout, fp32, eval mode."""
    model = torchvision.models.resnet50()
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model.eval().to(device)


class NaiveLoop:
    """`Image.open`, `convert("RGB")`, the reference transform, `model(x)` under `no_grad`,
    one image at a time: the recipe from torchvision's documentation."""

    def __init__(self, model: torch.nn.Module, device: str = "cpu") -> None:
        self.model = model
        self.device = device
        self.transform = reference_transform()

    def __call__(self, path: Path, top_k: int = 5) -> tuple[list[int], list[float]]:
        img = Image.open(path).convert("RGB")
        x = self.transform(img).unsqueeze(0).to(self.device)
        with torch.no_grad():
            probs = torch.softmax(self.model(x), dim=1)
            values, indices = probs.topk(top_k, dim=1)
        return indices[0].tolist(), values[0].tolist()


class ModelAlone:
    """A forward pass on a ready tensor: the floor for per-image cost."""

    def __init__(self, model: torch.nn.Module, device: str = "cpu", batch: int = 1) -> None:
        self.model = model
        self.x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(
            device
        )
        self.cuda = device.startswith("cuda")

    def __call__(self) -> None:
        with torch.no_grad():
            out = self.model(self.x)
        if self.cuda:
            out.cpu()
