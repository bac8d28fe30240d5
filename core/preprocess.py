"""From a decoded picture to the model's input tensor.

The same steps as torchvision's reference (`Resize`, `CenterCrop`, `ToTensor`, `Normalize` on a
PIL image): a bilinear, antialiased resize of the short side done by Pillow, a centre crop,
scaling to [0, 1] and normalising. Keeping Pillow for the resize keeps the probabilities equal
to the reference to float noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.models import WeightsEnum

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    resize_size: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def classic(cls) -> Preprocess:
        """The ImageNet evaluation recipe used for users' own checkpoints."""
        return cls()

    @classmethod
    def from_weights(cls, weights: WeightsEnum) -> Preprocess:
        """Read the sizes and statistics off `weights.transforms()`, so they cannot drift."""
        t = weights.transforms()
        return cls(
            resize_size=int(t.resize_size[0]),
            crop_size=int(t.crop_size[0]),
            mean=tuple(t.mean),
            std=tuple(t.std),
        )

    def resize_crop(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        short = min(w, h)
        if short != self.resize_size:
            # torchvision.transforms.functional.resize's rule for an int size
            if w <= h:
                size = (self.resize_size, int(self.resize_size * h / w))
            else:
                size = (int(self.resize_size * w / h), self.resize_size)
            img = img.resize(size, Image.BILINEAR)
        w, h = img.size
        c = self.crop_size
        if w < c or h < c:  # torchvision pads; an image this small is upscaled above, never here
            raise ValueError("image smaller than the crop")
        left = round((w - c) / 2.0)
        top = round((h - c) / 2.0)
        return img.crop((left, top, left + c, top + c))

    def to_tensor(self, img: Image.Image) -> torch.Tensor:
        """A normalised 3xHxW float tensor from an RGB crop."""
        arr = np.asarray(img, dtype=np.float32)
        mean = np.asarray(self.mean, dtype=np.float32) * 255.0
        std = np.asarray(self.std, dtype=np.float32) * 255.0
        arr = (arr - mean) / std
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    def __call__(self, img: Image.Image) -> torch.Tensor:
        return self.to_tensor(self.resize_crop(img))
