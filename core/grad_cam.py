"""Grad-CAM: where in the picture the model found evidence for a class.

The map explains the very prediction the engine made: it is computed on the same decoded image,
resize and centre crop that `Classifier` feeds the network, then mapped from the crop back onto
the whole decoded image. The parts the crop cut off were never seen by the model; they are 0 in
the map and `crop_box` says where the seen part is, so a view can dim the rest.

The model is shared with the engine and is left as it was: no hooks stay registered, every
parameter's `requires_grad` is restored and no `.grad` is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.decode.files import ImageSource
from core.decode.pillow import PillowDecoder
from core.decode.preprocess import Preprocess
from core.devices import device_name, resolve_device
from core.errors import ClassifierError, OutOfDeviceMemoryError
from core.gpu_memory import free_cached_memory
from core.model import LoadedModel

if TYPE_CHECKING:
    from core.engine import Classifier

log = logging.getLogger(__name__)

TARGET_LAYER = "layer4"  # ResNet's last convolutional block


@dataclass(frozen=True, eq=False)
class Explanation:
    """A Grad-CAM heat map for one class over one decoded image.

    `heatmap` is float32, shaped (height, width) of the decoded image, in [0, 1]: 1 where the
    evidence for the class is strongest; all 0 when nothing in the picture raised its score.
    `crop_box` is (left, top, right, bottom) in heatmap pixels: the part the model saw.
    """

    class_index: int
    label: str
    probability: float
    heatmap: np.ndarray
    crop_box: tuple[int, int, int, int]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL gives sizes."""
        return self.heatmap.shape[1], self.heatmap.shape[0]

    def overlay(self, image: Image.Image, alpha: float = 0.5) -> Image.Image:
        """`image` with the heat map blended over it (jet colours), as RGB at `image`'s size.

        `image` may be the decoded image or any rescaled copy of it (a full-size original, a
        thumbnail): the map is resized to fit. What the model did not see is shown darkened.
        """
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        width, height = image.size
        heat = self.heatmap
        if (width, height) != self.size:
            heat = np.asarray(
                Image.fromarray(heat).resize((width, height), Image.BILINEAR),
                dtype=np.float32,
            )
        colours = jet(heat)
        out = rgb * 0.4  # outside the crop: darkened, no colour
        sx, sy = width / self.size[0], height / self.size[1]
        left, top, right, bottom = self.crop_box
        box = np.s_[round(top * sy) : round(bottom * sy), round(left * sx) : round(right * sx)]
        out[box] = (1.0 - alpha) * rgb[box] + alpha * colours[box]
        return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def explain(
    model: Classifier | LoadedModel,
    source: ImageSource | Image.Image,
    class_index: int | None = None,
    device: str | torch.device | None = None,
) -> Explanation:
    """Grad-CAM for `class_index` (default: the top-1 class) of `source`.

    `model` is the engine's `Classifier` (runs on its device) or a `LoadedModel` (runs where its
    module is). A `device` other than that moves the module there for this call only.
    Raises `ImageReadError` for a bad image, `OutOfDeviceMemoryError` when the GPU is full.
    """
    loaded, current, decoder = _unwrap(model)
    target = resolve_device(str(device)) if device is not None else current
    pre = loaded.preprocess
    img = source if isinstance(source, Image.Image) else decoder.read(source, pre)
    x = decoder.prepare(img, pre).unsqueeze(0)
    module = getattr(loaded.module, "_orig_mod", loaded.module)  # torch.compile'd: the original
    if class_index is not None and not 0 <= class_index < loaded.num_classes:
        raise ValueError(f"class_index {class_index} is not in 0..{loaded.num_classes - 1}")
    moved = target != current
    try:
        if moved:
            module.to(target)
        cam, index, probability = _grad_cam(module, x.to(target), class_index)
    except torch.cuda.OutOfMemoryError:
        free_cached_memory()
        raise OutOfDeviceMemoryError(
            f"The GPU ran out of memory ({device_name(target)}) making the heat map."
        ) from None
    finally:
        if moved:
            module.to(current)
    heatmap = _to_image(cam, img.size, pre)
    log.info("Grad-CAM for class %d on %s", index, target)
    return Explanation(
        class_index=index,
        label=loaded.labels[index],
        probability=probability,
        heatmap=heatmap,
        crop_box=crop_box(img.size, pre),
    )


def _unwrap(model: Classifier | LoadedModel) -> tuple[LoadedModel, torch.device, PillowDecoder]:
    """The model, where it runs, and the Pillow decoder that made (or would make) its input:
    the map is drawn on the very picture the network saw."""
    if isinstance(model, LoadedModel):
        first = next(model.module.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
        return model, device, PillowDecoder()
    # a Classifier; not imported here to keep imports light
    return model.model, model.device, model.decoder.pillow


def _grad_cam(
    module: nn.Module, x: torch.Tensor, class_index: int | None
) -> tuple[np.ndarray, int, float]:
    """The raw 7x7 map (ReLU'd, not normalised), the class explained and its probability.

    layer4's output A is made the only tensor that requires grad (a forward hook swaps in a
    detached copy, parameters are frozen for the call), so autograd records just avgpool+fc
    and `autograd.grad` writes nothing into any `.grad`.
    """
    layer = getattr(module, TARGET_LAYER, None)
    if not isinstance(layer, nn.Module):
        raise ClassifierError("This model has no ResNet layer4, so it cannot show a heat map.")
    captured: list[torch.Tensor] = []

    def capture(_mod: nn.Module, _inp: object, out: torch.Tensor) -> torch.Tensor:
        a = out.detach().requires_grad_(True)
        captured.append(a)
        return a

    params = list(module.parameters())
    grad_flags = [p.requires_grad for p in params]
    handle = layer.register_forward_hook(capture)
    try:
        for p in params:
            p.requires_grad_(False)
        with torch.inference_mode(False), torch.enable_grad():
            logits = module(x)
            if not captured:
                raise ClassifierError("The model did not run its layer4; no heat map possible.")
            probs = torch.softmax(logits.detach().float(), dim=1)[0]
            index = int(probs.argmax()) if class_index is None else int(class_index)
            (grads,) = torch.autograd.grad(logits[0, index], captured[0])
        a = captured[0].detach().float()[0]  # C x h x w
        weights = grads.float()[0].mean(dim=(1, 2))  # C: spatially averaged gradients
        cam = torch.relu(torch.einsum("c,chw->hw", weights, a))
        return cam.cpu().numpy(), index, float(probs[index])
    finally:
        handle.remove()
        for p, flag in zip(params, grad_flags, strict=True):
            p.requires_grad_(flag)


def crop_box(size: tuple[int, int], pre: Preprocess) -> tuple[int, int, int, int]:
    """Where `pre`'s centre crop lies in an image of `size` (width, height), rounded to pixels."""
    (rw, rh), (left, top) = pre.crop_geometry(size)
    sx, sy = size[0] / rw, size[1] / rh
    c = pre.crop_size
    return (
        round(left * sx),
        round(top * sy),
        round((left + c) * sx),
        round((top + c) * sy),
    )


def _to_image(cam: np.ndarray, size: tuple[int, int], pre: Preprocess) -> np.ndarray:
    """Upsample the feature-grid map bilinearly onto the decoded image, 0 outside the crop.

    Each image pixel centre is mapped into crop pixels, then onto the grid with the
    half-pixel convention of `F.interpolate(mode="bilinear", align_corners=False)`; the map
    is separable, so it is two small matrix products. Normalised by its maximum.
    """
    (rw, rh), (left, top) = pre.crop_geometry(size)
    sx, sy = size[0] / rw, size[1] / rh
    w, h = size
    rows = _interp_matrix((np.arange(h) + 0.5) * (1.0 / sy) - top, pre.crop_size, cam.shape[0])
    cols = _interp_matrix((np.arange(w) + 0.5) * (1.0 / sx) - left, pre.crop_size, cam.shape[1])
    heat = (rows @ cam.astype(np.float64) @ cols.T).astype(np.float32)
    peak = float(heat.max())
    if peak > 0:
        heat /= peak
    return heat


def _interp_matrix(pos: np.ndarray, crop: int, cells: int) -> np.ndarray:
    """Bilinear weights (len(pos) x cells) from crop coordinates to grid cells; 0 outside."""
    f = np.maximum(pos * (cells / crop) - 0.5, 0.0)  # pos: pixel centres, crop pixels
    i0 = np.minimum(np.floor(f).astype(np.int64), cells - 1)
    i1 = np.minimum(i0 + 1, cells - 1)
    frac = f - i0
    m = np.zeros((len(pos), cells), dtype=np.float64)
    r = np.arange(len(pos))
    np.add.at(m, (r, i0), 1.0 - frac)
    np.add.at(m, (r, i1), frac)
    m[(pos < 0) | (pos >= crop)] = 0.0
    return m


def jet(values: np.ndarray) -> np.ndarray:
    """The classic jet colour map: [0, 1] -> RGB in [0, 255] (blue, cyan, yellow, red)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]
    centres = np.asarray([3.0, 2.0, 1.0], dtype=np.float32)  # red, green, blue
    return np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0) * 255.0
