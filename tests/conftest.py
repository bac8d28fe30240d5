"""Shared fixtures: checkpoints the tests make and real photos from scikit-image."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def image_settings() -> None:
    """What every entry point does before its first image (HEIC registered, warnings off)."""
    from core.decode.settings import apply_image_settings

    apply_image_settings()


PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


@pytest.fixture(scope="session")
def resnet50_state() -> dict:
    """A random-weights ResNet50 state dict, made once per test run."""
    import torch
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet50().state_dict()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, resnet50_state: dict) -> Path:
    """A plain `torch.save(model.state_dict())` file with 1000 classes."""
    import torch

    path = tmp_path_factory.mktemp("ckpt") / "resnet50_random.pth"
    torch.save(resnet50_state, path)
    return path


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real photos from skimage.data saved as JPEG (and one PNG), by name."""
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    out = {}
    for name in PHOTOS:
        ext = ".png" if name == "coffee" else ".jpg"
        path = folder / f"{name}{ext}"
        Image.fromarray(getattr(data, name)()).save(path, quality=92)
        out[name] = path
    return out
