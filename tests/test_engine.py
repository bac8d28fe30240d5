"""Classifying one image and many, on the devices this machine really has."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from core.devices import available_devices, resolve_device
from core.engine import Classifier
from core.errors import DeviceUnavailableError, ImageReadError, OutOfDeviceMemoryError
from core.model import load_checkpoint


@pytest.fixture(scope="module")
def classifier(checkpoint: Path) -> Classifier:
    return Classifier(load_checkpoint(checkpoint), "cpu")


def test_top5_is_ranked_and_labelled(classifier: Classifier, photos: dict[str, Path]):
    result = classifier.classify(photos["chelsea"])
    probs = [p.probability for p in result.predictions]
    assert [p.rank for p in result.predictions] == [1, 2, 3, 4, 5]
    assert probs == sorted(probs, reverse=True)
    assert 0 < sum(probs) <= 1.0 + 1e-6
    assert all(p.label == classifier.model.labels[p.index] for p in result.predictions)
    assert result.device == "cpu" and result.seconds > 0
    assert result.to_dict()["predictions"][0]["rank"] == 1


def test_a_bad_image_raises_a_readable_error(classifier: Classifier, tmp_path: Path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(ImageReadError, match=r"broken\.jpg"):
        classifier.classify(bad)


def test_many_images_in_order_with_errors_kept_per_image(
    classifier: Classifier, photos: dict[str, Path], tmp_path: Path
):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    paths = [photos["chelsea"], bad, photos["coffee"], photos["rocket"], photos["astronaut"]]
    results = list(classifier.classify_many(paths, batch_size=2))
    assert [r.path for r in results] == [str(p) for p in paths]
    assert [r.ok for r in results] == [True, False, True, True, True]
    assert "bad.png" in results[1].error
    single = classifier.classify(photos["coffee"])
    batched = results[2]
    assert [p.index for p in batched.predictions] == [p.index for p in single.predictions]
    for a, b in zip(batched.predictions, single.predictions, strict=True):
        assert a.probability == pytest.approx(b.probability, abs=1e-4)


def test_cancelling_stops_between_images_and_keeps_what_was_done(
    classifier: Classifier, photos: dict[str, Path]
):
    cancel = threading.Event()
    done = []
    for result in classifier.classify_many([photos["chelsea"]] * 6, batch_size=1, cancel=cancel):
        done.append(result)
        if len(done) == 2:
            cancel.set()
    assert len(done) == 2 and all(r.ok for r in done)


def test_only_real_devices_are_offered_and_accepted(classifier: Classifier):
    ids = [d.id for d in available_devices()]
    assert ids[0] == "cpu" and available_devices()[0].name.startswith("CPU")
    assert resolve_device("auto") == torch.device("cuda:0" if ids[1:] else "cpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the no-GPU messages are tested where there is none")
    with pytest.raises(DeviceUnavailableError, match="No CUDA GPU"):
        resolve_device("cuda:0")
    with pytest.raises(DeviceUnavailableError, match="Unknown device"):
        resolve_device("gpu please")
    with pytest.raises(DeviceUnavailableError):
        classifier.to("cuda")
    assert classifier.device == torch.device("cpu")


def test_out_of_memory_is_a_clear_error_and_the_engine_still_works(
    classifier: Classifier, photos: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    module = classifier.model.module
    real_forward = module.forward
    monkeypatch.setattr(
        module, "forward", lambda x: (_ for _ in ()).throw(torch.cuda.OutOfMemoryError("boom"))
    )
    with pytest.raises(OutOfDeviceMemoryError, match="ran out of memory"):
        classifier.classify(photos["chelsea"])
    monkeypatch.setattr(module, "forward", real_forward)
    assert classifier.classify(photos["chelsea"]).ok


def test_top_k_never_exceeds_the_classes(tmp_path: Path, resnet50_state: dict, photos):
    state = dict(resnet50_state)
    state["fc.weight"] = torch.randn(3, 2048)
    state["fc.bias"] = torch.zeros(3)
    path = tmp_path / "three.pth"
    torch.save(state, path)
    result = Classifier(load_checkpoint(path), "cpu").classify(photos["rocket"], top_k=5)
    assert sorted(p.label for p in result.predictions) == ["class 0", "class 1", "class 2"]
    assert sum(p.probability for p in result.predictions) == pytest.approx(1.0, abs=1e-5)


def _record_forwards(clf: Classifier, shapes: list, monkeypatch: pytest.MonkeyPatch) -> None:
    module = clf.model.module
    real_forward = module.forward

    def forward(x):
        shapes.append(tuple(x.shape))
        return real_forward(x)

    monkeypatch.setattr(module, "forward", forward)


def test_warm_up_runs_the_network_once_and_only_if_nothing_ran_yet(
    checkpoint: Path, photos: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    shapes: list[tuple[int, ...]] = []
    clf = Classifier(load_checkpoint(checkpoint), "cpu")
    _record_forwards(clf, shapes, monkeypatch)
    assert not clf.warm
    clf.warm_up()
    clf.warm_up()
    assert shapes == [(1, 3, 224, 224)] and clf.warm

    fresh = Classifier(load_checkpoint(checkpoint), "cpu")
    _record_forwards(fresh, shapes, monkeypatch)
    fresh.classify(photos["coffee"])  # a real image warms it just as well
    fresh.warm_up()
    assert len(shapes) == 2 and fresh.warm
