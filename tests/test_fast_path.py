"""The optimized path gives the reference pipeline's probabilities, and a folder gives what
one image at a time gives.

The reference is torchvision's documented recipe on the PIL image: `Compose([Resize(256),
CenterCrop(224), ToTensor(), Normalize(...)])`, then the plain (NCHW, fp32) model. Our path
differs in layout (channels-last), in grad mode (`inference_mode`), in decoding (draft for
large JPEGs only) and in batching; none of it may move a probability beyond float noise for
images up to 1024 px.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

from core.decode.images import read_image
from core.decode.preprocess import IMAGENET_MEAN, IMAGENET_STD
from core.engine import Classifier
from core.model import load_checkpoint

# float noise: the reference computes (x/255 - mean)/std, we compute (x - 255 mean)/(255 std),
# and oneDNN picks other kernels for channels-last and for other batch sizes.
PROB_ATOL = 5e-5


@pytest.fixture(scope="module")
def images(photos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real photos up to 1024 px: as they come, enlarged to exactly 1024 px, tiny, greyscale."""
    from skimage import data

    folder = tmp_path_factory.mktemp("fast_path")
    astronaut = Image.fromarray(data.astronaut())
    extra = {
        "square_1024.jpg": astronaut.resize((1024, 1024), Image.BICUBIC),  # draft boundary
        "wide_1024.png": Image.open(photos["coffee"]).resize((1024, 683), Image.BICUBIC),
        "tiny_160.jpg": astronaut.resize((160, 120)),  # smaller than the crop: upscaled
        "grey.jpg": Image.fromarray(data.camera()),
    }
    paths = list(photos.values())
    for name, img in extra.items():
        path = folder / name
        img.save(path, quality=90)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def classifier(checkpoint: Path) -> Classifier:
    return Classifier(load_checkpoint(checkpoint), "cpu")


@pytest.fixture(scope="module")
def reference(resnet50_state: dict, images: list[Path]) -> np.ndarray:
    """Probabilities of every class for every image, by torchvision's recipe."""
    model = torchvision.models.resnet50()
    model.load_state_dict(resnet50_state)
    model.eval()
    tf = T.Compose(
        [T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )
    batch = torch.stack([tf(Image.open(p).convert("RGB")) for p in images])
    with torch.no_grad():
        return torch.softmax(model(batch), dim=1).numpy()


def _by_index(predictions, num_classes: int = 1000) -> np.ndarray:
    probs = np.zeros(num_classes)
    for p in predictions:
        probs[p.index] = p.probability
    return probs


def test_one_image_at_a_time_matches_the_reference(
    classifier: Classifier, images: list[Path], reference: np.ndarray
):
    for path, expected in zip(images, reference, strict=True):
        result = classifier.classify(path, top_k=1000)
        got = _by_index(result.predictions)
        worst = np.abs(got - expected).max()
        assert worst < PROB_ATOL, f"{path.name}: probabilities differ by {worst:.2e}"
        assert result.top.index == int(expected.argmax()), path.name


def test_a_folder_gives_what_each_image_gives(
    classifier: Classifier, images: list[Path], reference: np.ndarray
):
    batched = list(classifier.classify_many(images, top_k=1000, batch_size=3))
    assert [r.path for r in batched] == [str(p) for p in images]
    for result, expected in zip(batched, reference, strict=True):
        assert result.ok, result.error
        worst = np.abs(_by_index(result.predictions) - expected).max()
        assert worst < PROB_ATOL, f"{Path(result.path).name}: batched differs by {worst:.2e}"


def test_images_up_to_1024_px_are_decoded_in_full_and_large_jpegs_in_draft(
    images: list[Path], tmp_path: Path
):
    for path in images:
        with Image.open(path) as im:
            assert read_image(path, 256).size == im.size, path.name
    big = tmp_path / "camera.jpg"
    Image.new("RGB", (4000, 3000), (90, 120, 200)).save(big, quality=90)
    decoded = read_image(big, 256)
    assert decoded.size != (4000, 3000), "a 12 MP JPEG should be decoded at reduced size"
    assert min(decoded.size) >= 256 * 2, "draft must keep twice the resize target"


def test_fast_mode_is_opt_in_and_gives_a_ranked_top5(checkpoint: Path, photos: dict[str, Path]):
    model = load_checkpoint(checkpoint)
    assert Classifier(model, "cpu").precision == "fp32"
    with pytest.raises(ValueError, match="precision"):
        Classifier(model, "cpu", precision="int3")
    fast = Classifier(model, "cpu", precision="bf16")
    result = fast.classify(photos["chelsea"])
    probs = [p.probability for p in result.predictions]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-3
