"""From a decoded picture to the model's input tensor.

The same steps as torchvision's reference (`Resize`, `CenterCrop`, `ToTensor`, `Normalize` on a
PIL image): a bilinear, antialiased resize of the short side done by Pillow, a centre crop,
scaling to [0, 1] and normalising. Keeping Pillow for the resize keeps the probabilities equal
to the reference to float noise. Photos over 1024 px resample only the crop's pixels, which halves
the resize (the crop is at most a rounding away from the reference's, see `resize_crop`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL
import torch
from PIL import Image
from torchvision.models import WeightsEnum

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Images up to this size (longest side) get exactly the reference's pixels; larger ones are
# resampled only where the crop is (see `Preprocess.resize_crop`), like `core.decode.images`' draft.
BOXED_RESIZE_MIN_SIDE = 1024


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

    def crop_geometry(self, size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """The resized image's size, and the crop's corner in it.

        torchvision's rule: the short side goes to `resize_size` (the long one truncated to an
        int), then the centre `crop_size` square is cut with rounded offsets.
        """
        w, h = size
        r = self.resize_size
        if min(w, h) == r:
            rw, rh = w, h
        elif w <= h:
            rw, rh = r, int(r * h / w)
        else:
            rw, rh = int(r * w / h), r
        c = self.crop_size
        if rw < c or rh < c:  # torchvision pads; only a crop larger than the resize gets here
            raise ValueError("image smaller than the crop")
        return (rw, rh), (round((rw - c) / 2.0), round((rh - c) / 2.0))

    def resize_crop(self, img: Image.Image) -> Image.Image:
        """The centre crop of the resized image.

        Up to `BOXED_RESIZE_MIN_SIDE` this is the reference's resize-then-crop, pixel for pixel.
        Above it, Pillow's `box` resamples only the pixels the crop keeps, at about half the
        cost (measured in `benchmarks/`). Pillow takes the box as 32-bit floats, which moves
        the sampling grid by about 1e-4 pixel, enough to flip a rounding in a few pixels by one
        level. Pillow resizes in two passes, one per axis, rounding to 8 bits in between; they
        run in the order the whole-image resize would take, or many more pixels would differ.
        """
        w, h = img.size
        (rw, rh), (left, top) = self.crop_geometry(img.size)
        c = self.crop_size
        if max(w, h) <= BOXED_RESIZE_MIN_SIDE or (rw, rh) == (w, h):
            if (rw, rh) != (w, h):
                img = img.resize((rw, rh), Image.BILINEAR)
            return img.crop((left, top, left + c, top + c))
        sx, sy = w / rw, h / rh
        x0, y0, x1, y1 = left * sx, top * sy, (left + c) * sx, (top + c) * sy
        vertical_first = _vertical_pass_first(img.size, (rw, rh))
        if vertical_first == _vertical_pass_first(img.size, (c, c)):
            return img.resize((c, c), Image.BILINEAR, box=(x0, y0, x1, y1))
        if vertical_first:
            img = img.resize((w, c), Image.BILINEAR, box=(0, y0, w, y1))
            return img.resize((c, c), Image.BILINEAR, box=(x0, 0, x1, c))
        img = img.resize((c, h), Image.BILINEAR, box=(x0, 0, x1, h))
        return img.resize((c, c), Image.BILINEAR, box=(0, y0, c, y1))

    def to_tensor(self, img: Image.Image) -> torch.Tensor:
        """A normalised 3xHxW float tensor from an RGB crop."""
        arr = np.asarray(img, dtype=np.float32)
        mean = np.asarray(self.mean, dtype=np.float32) * 255.0
        std = np.asarray(self.std, dtype=np.float32) * 255.0
        arr = (arr - mean) / std
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    def __call__(self, img: Image.Image) -> torch.Tensor:
        return self.to_tensor(self.resize_crop(img))


# Pillow 13 runs the vertical pass first when the height shrinks more than twice as much as the
# width (src/libImaging/Resample.c); earlier versions always run the horizontal pass first.
_PILLOW_PICKS_PASS_ORDER = int(PIL.__version__.split(".")[0]) >= 13


def _vertical_pass_first(size: tuple[int, int], out: tuple[int, int]) -> bool:
    """Which pass Pillow runs first when resizing an image of `size` to `out`."""
    (w, h), (ow, oh) = size, out
    return _PILLOW_PICKS_PASS_ORDER and h - oh > 0 and h - oh > (w - ow) * 2
