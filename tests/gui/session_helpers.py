"""What a worker and a loader would answer, for the tests of the session and its small models:
they are handed these answers, no thread runs."""

from __future__ import annotations

from core.results import ClassificationResult, ModelInfo, Prediction
from gui.model_state import ModelState
from gui.session import Session

PHOTOS = ["/photos/cat.jpg", "/photos/dog.jpg", "/photos/boat.png"]
IMAGENET = ModelInfo(source="ImageNet", num_classes=1000, device="cpu", device_name="CPU")


class Recorder:
    """Every emission of the signals asked for, as (name, args) in order."""

    def __init__(self, obj: object, *names: str) -> None:
        self.calls: list[tuple[str, tuple]] = []
        for name in names:
            getattr(obj, name).connect(lambda *a, n=name: self.calls.append((n, a)))

    def of(self, name: str) -> list[tuple]:
        return [args for n, args in self.calls if n == name]


def result(path: str, label: str = "tabby", probability: float = 0.9) -> ClassificationResult:
    prediction = Prediction(rank=1, index=281, label=label, probability=probability)
    return ClassificationResult(path=path, predictions=(prediction,), device="cpu", seconds=0.02)


def loaded(model: ModelState, info: ModelInfo = IMAGENET) -> int:
    """Ask for the model and answer as the worker would; returns the load's request id."""
    requests = Recorder(model, "loadRequested")
    model.load(None, None, remember=False)
    request_id = requests.of("loadRequested")[-1][0].request_id
    model.on_model_loaded(request_id, info)
    return request_id


def dropped(session: Session, paths: list[str], problems: tuple[str, ...] = ()) -> None:
    """Drop `paths` and answer as the loader would; then, as the window does, show the first
    image and classify what needs it."""
    session.open(paths)
    session.items.on_expanded(session.items.drop_id, list(paths), list(problems))
    session.current_item.set(0)
    session.run.classify_stale()
