"""Grad-CAM held to its definition, on a random-weights ResNet50 and real photos."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from skimage import data

from core.decode.preprocess import Preprocess
from core.engine import Classifier
from core.grad_cam import crop_box, explain, jet
from core.model import LoadedModel, load_checkpoint

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("explain") / "random_resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def classifier(checkpoint) -> Classifier:
    return Classifier(load_checkpoint(checkpoint), "cpu")


def square(photo: np.ndarray, side: int = 256) -> Image.Image:
    """A photo's centre cut to side x side: the preprocessing then only crops (no resize)."""
    h, w = photo.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return Image.fromarray(photo[top : top + s, left : left + s]).resize((side, side))


def layer4(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ResNet's forward up to the last convolutional block, written out."""
    m = module
    with torch.no_grad():
        y = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        return m.layer4(m.layer3(m.layer2(m.layer1(y))))


@pytest.mark.parametrize("device", DEVICES)
def test_matches_hand_computed_grad_cam(classifier: Classifier, device: str) -> None:
    img = square(data.chelsea())  # 256 x 256: crop box (16, 16, 240, 240)
    module = classifier.model.module
    top = classifier.classify(img, top_k=1).top
    x = classifier.model.preprocess(img).unsqueeze(0)
    a = layer4(module, x)[0]  # 2048 x 7 x 7
    # score = fc(mean_hw(A)): d score / dA = fc.weight[c] / 49 everywhere, so weights = that.
    weights = module.fc.weight[top.index].detach() / 49
    cam = torch.relu(torch.einsum("c,chw->hw", weights, a))
    up = F.interpolate(cam[None, None], size=(224, 224), mode="bilinear", align_corners=False)
    expected = np.zeros((256, 256), dtype=np.float32)
    expected[16:240, 16:240] = up[0, 0].numpy()
    assert expected.max() > 0
    expected /= expected.max()

    try:
        classifier.to(device)
        e = explain(classifier, img)  # default: the top-1 class
    finally:
        classifier.to("cpu")
    assert (e.class_index, e.label) == (top.index, top.label)
    assert e.probability == pytest.approx(top.probability, rel=1e-3)
    assert e.heatmap.dtype == np.float32 and e.heatmap.shape == (256, 256)
    assert e.crop_box == (16, 16, 240, 240)
    np.testing.assert_allclose(e.heatmap, expected, atol=1e-4 if device == "cpu" else 2e-2)


def test_map_has_the_image_aspect_and_covers_only_what_the_model_saw(
    classifier: Classifier,
) -> None:
    img = Image.fromarray(data.coffee())  # 600 x 400: resized to 384 x 256, crop at x 80..304
    e = explain(classifier, img)
    assert e.heatmap.shape == (400, 600) and e.size == img.size
    pre = classifier.model.preprocess
    assert e.crop_box == crop_box(img.size, pre) == (125, 25, 475, 375)
    assert crop_box((400, 600), pre) == (25, 125, 375, 475)  # portrait: cropped top and bottom
    left, top, right, bottom = e.crop_box
    outside = np.ones(e.heatmap.shape, dtype=bool)
    outside[top:bottom, left:right] = False
    assert not e.heatmap[outside].any(), "the map is 0 where the crop cut the picture off"
    assert e.heatmap.min() >= 0 and e.heatmap.max() == pytest.approx(1.0)

    overlay = e.overlay(img)
    assert overlay.mode == "RGB" and overlay.size == img.size
    assert e.overlay(img.resize((150, 100))).size == (150, 100)  # a thumbnail works too


def test_maps_for_two_classes_differ_where_the_inputs_differ(classifier: Classifier) -> None:
    """Left half a cat, right half a coffee cup; class 0 reads "cat side", class 1 "cup side".

    The 2-class head is +v / -v with v = (direction of the mean layer4 feature of the cat side)
    - (that of the cup side), so by construction class 0's evidence is on the left and class
    1's on the right; the maps must say so, in the right place on the picture.
    """
    cat, cup = square(data.chelsea()), square(data.coffee())
    img = Image.new("RGB", (256, 256))
    img.paste(cat.crop((0, 0, 128, 256)), (0, 0))
    img.paste(cup.crop((128, 0, 256, 256)), (128, 0))
    module = copy.deepcopy(classifier.model.module).cpu()
    module.fc = torch.nn.Linear(2048, 2)
    a = layer4(module, Preprocess.classic()(img).unsqueeze(0))[0]
    cat_side, cup_side = a[:, :, :3].mean(dim=(1, 2)), a[:, :, 4:].mean(dim=(1, 2))
    v = cat_side / cat_side.norm() - cup_side / cup_side.norm()  # v.cat > 0 > v.cup
    with torch.no_grad():
        module.fc.weight.copy_(torch.stack([v, -v]))
        module.fc.bias.zero_()
    model = LoadedModel(module, ("cat side", "cup side"), Preprocess.classic(), "two-class test")

    cat_map, cup_map = explain(model, img, 0).heatmap, explain(model, img, 1).heatmap
    assert not np.allclose(cat_map, cup_map)
    crop = np.s_[16:240]
    left, right = np.s_[16:112], np.s_[144:240]  # keep off the seam's column of cells
    assert cat_map[crop, left].mean() > 2 * cat_map[crop, right].mean()
    assert cup_map[crop, right].mean() > 2 * cup_map[crop, left].mean()


def test_leaves_no_gradients_or_hooks_behind(classifier: Classifier) -> None:
    module = classifier.model.module
    img = Image.fromarray(data.astronaut())
    before = classifier.classify(img)
    module.conv1.weight.requires_grad_(False)  # a mix of frozen and trainable, to restore
    flags = [p.requires_grad for p in module.parameters()]
    try:
        with torch.inference_mode():  # as a caller may well be
            explain(classifier, img, class_index=before.predictions[1].index)
        assert [p.requires_grad for p in module.parameters()] == flags
    finally:
        module.conv1.weight.requires_grad_(True)
    assert torch.is_grad_enabled()
    assert all(p.grad is None for p in module.parameters())
    for name, sub in module.named_modules():
        hooks = sub._forward_hooks, sub._forward_pre_hooks, sub._backward_hooks
        assert not any(hooks), f"a hook was left on {name or 'the model'}"
    after = classifier.classify(img)
    assert after.predictions == before.predictions


def test_rejects_a_class_the_model_does_not_have(classifier: Classifier) -> None:
    with pytest.raises(ValueError, match="class_index 1000"):
        explain(classifier, square(data.chelsea()), class_index=1000)


def test_jet_runs_blue_to_red() -> None:
    colours = jet(np.array([0.0, 0.5, 1.0]))
    assert colours.shape == (3, 3)
    np.testing.assert_allclose(colours, [[0, 0, 127.5], [127.5, 255, 127.5], [127.5, 0, 0]])


def test_cli_saves_an_overlay_named_after_each_image(checkpoint, tmp_path, capsys) -> None:
    from core.cli.classify import main

    photo = tmp_path / "chelsea.jpg"
    Image.fromarray(data.chelsea()).save(photo, quality=90)  # 451 x 300
    out = tmp_path / "heat"
    code = main(["--weights", str(checkpoint), "--device", "cpu", "--format", "json",
                 "--explain", str(out), str(photo)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    record = json.loads(capsys.readouterr().out)
    assert record["path"] == str(photo)
    with Image.open(out / "chelsea.png") as png:
        assert png.format == "PNG" and png.mode == "RGB" and png.size == (451, 300)
