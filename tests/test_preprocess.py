"""The crop the model sees is the one torchvision's recipe cuts, for every shape of photo.

Up to 1024 px it is the same pixels; above, the crop is resampled on its own (half the work) and
may differ by one level in a few pixels, never more, and never shifted.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms as T

from core.decode.preprocess import BOXED_RESIZE_MIN_SIDE, Preprocess


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def _reference(img: Image.Image, pre: Preprocess) -> np.ndarray:
    tf = T.Compose([T.Resize(pre.resize_size), T.CenterCrop(pre.crop_size)])
    return np.asarray(tf(img), dtype=np.int16)


SMALL = [(640, 427), (427, 640), (1024, 1024), (300, 1000), (1000, 260), (160, 120), (256, 900)]
# tall, wide, square, 4:3 phone, 3:2 camera, and near 1:2 portraits, where Pillow 13 would
# run the passes of the cropped resize in another order than those of the whole one
LARGE = [
    (1200, 5000),
    (5000, 1100),
    (2048, 2048),
    (4032, 3024),
    (3024, 4032),
    (6000, 4000),
    (1100, 2100),
    (2000, 3900),
]


@pytest.mark.parametrize("size", SMALL, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("pre", [Preprocess(), Preprocess(resize_size=232)], ids=["256", "232"])
def test_small_images_get_the_reference_pixels(
    photo: Image.Image, size: tuple[int, int], pre: Preprocess
) -> None:
    img = photo.resize(size, Image.BICUBIC)
    ours = np.asarray(pre.resize_crop(img), dtype=np.int16)
    assert ours.shape == (pre.crop_size, pre.crop_size, 3)
    assert np.array_equal(ours, _reference(img, pre))


@pytest.mark.parametrize("size", LARGE, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("pre", [Preprocess(), Preprocess(resize_size=232)], ids=["256", "232"])
def test_large_images_differ_by_at_most_a_rounding(
    photo: Image.Image, size: tuple[int, int], pre: Preprocess
) -> None:
    assert max(size) > BOXED_RESIZE_MIN_SIDE
    img = photo.resize(size, Image.BICUBIC)
    diff = np.abs(np.asarray(pre.resize_crop(img), dtype=np.int16) - _reference(img, pre))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.005
