"""The model and its device on their own: loads and switches are answered as the worker would,
and only the answer to the latest request of each kind counts."""

from __future__ import annotations

import pytest
from session_helpers import IMAGENET, Recorder, loaded

from core.results import DeviceInfo, ModelInfo
from gui.messages import ModelFailure
from gui.model_state import ModelState

GPU0 = ModelInfo("ImageNet", 1000, "cuda:0", "GPU 0")
GPU1 = ModelInfo("ImageNet", 1000, "cuda:1", "GPU 1")


@pytest.fixture
def model(qapp) -> ModelState:
    return ModelState(device="cuda:0")


def test_a_load_asks_with_the_device_chosen_and_says_so(model):
    rec = Recorder(model, "interrupting", "statusChanged", "loadRequested")
    model.load("/models/birds.pth", "/models/birds.txt", remember=True)
    assert [name for name, _ in rec.calls] == ["interrupting", "statusChanged", "loadRequested"]
    ((request,),) = rec.of("loadRequested")
    assert (request.weights, request.labels, request.device) == (
        "/models/birds.pth",
        "/models/birds.txt",
        "cuda:0",
    )
    assert rec.of("statusChanged") == [("Loading birds.pth…",)]


def test_a_failed_first_load_leaves_no_model_and_a_late_answer_is_ignored(model):
    rec = Recorder(model, "loadRequested", "modelFailed", "modelLoaded", "settled")
    model.load("/models/broken.pth", None, remember=True)
    (first,) = rec.of("loadRequested")[-1]
    model.load(None, None, remember=True)  # the user went back to ImageNet meanwhile
    (second,) = rec.of("loadRequested")[-1]
    assert first.cancel.is_set()

    model.on_model_failed(first.request_id, ModelFailure("broken.pth is not a checkpoint."))
    model.on_model_loaded(first.request_id, IMAGENET)
    assert rec.of("modelFailed") == [] and rec.of("modelLoaded") == []

    model.on_model_failed(second.request_id, ModelFailure("No network.", offline=True))
    assert rec.of("modelFailed") == [(ModelFailure("No network.", offline=True),)]
    assert model.no_model and model.info is None and model.key() is None
    assert model.pending == (None, None) and rec.of("settled") == []


def test_a_cancelled_load_says_nothing(model):
    rec = Recorder(model, "loadRequested", "modelFailed")
    model.load(None, None, remember=False)
    (request,) = rec.of("loadRequested")[-1]
    model.on_model_failed(request.request_id, ModelFailure("cancelled", cancelled=True))
    assert rec.of("modelFailed") == [] and not model.no_model


def test_a_loaded_model_settles_after_the_window_heard_of_it(model):
    heard: list[str] = []
    model.modelLoaded.connect(lambda _: heard.append("loaded"))
    model.settled.connect(lambda: heard.append("settled"))
    request_id = loaded(model, GPU0)
    assert heard == ["loaded", "settled"]
    assert model.key() == (request_id, "cuda:0") and model.device_name("cuda:0") == "GPU 0"


def test_a_failed_load_keeps_the_model_in_use_and_its_results(model):
    first = loaded(model)
    rec = Recorder(model, "loadRequested", "settled")
    model.load("/models/broken.pth", None, remember=True)
    (request,) = rec.of("loadRequested")[-1]
    model.on_model_failed(request.request_id, ModelFailure("not a checkpoint."))
    assert model.info == IMAGENET and model.key() == (first, "cpu")
    assert len(rec.of("settled")) == 1  # what the load interrupted is finished
    assert model.weights is None  # still the weights of the model in use


def test_only_the_last_device_switch_is_answered(model):
    loaded(model, GPU0)
    asked = Recorder(model, "deviceRequested", "deviceChanged", "deviceFailed", "interrupting")
    model.switch_device("cuda:1")
    model.switch_device("cpu")
    (first, _), (second, device) = asked.of("deviceRequested")
    assert device == "cpu" and len(asked.of("interrupting")) == 2
    model.on_device_changed(first, GPU1)
    model.on_device_failed(first, "out of memory")
    assert asked.of("deviceChanged") == [] and asked.of("deviceFailed") == []
    on_cpu = ModelInfo("ImageNet", 1000, "cpu", "CPU")
    model.on_device_changed(second, on_cpu)
    assert model.device == "cpu" and asked.of("deviceChanged") == [(on_cpu,)]


def test_switching_to_the_device_in_use_asks_nothing_and_is_remembered(model):
    loaded(model, GPU0)
    asked = Recorder(model, "deviceRequested", "deviceChanged")
    model.switch_device("cuda:0")
    assert asked.of("deviceRequested") == [] and asked.of("deviceChanged") == [(GPU0,)]


def test_before_a_model_a_device_choice_is_kept_for_the_load(model):
    asked = Recorder(model, "deviceRequested", "loadRequested")
    model.switch_device("cpu")
    model.load(None, None, remember=False)
    assert asked.of("deviceRequested") == []
    assert asked.of("loadRequested")[-1][0].device == "cpu"


def test_the_loads_fallback_to_the_cpu_is_checked_against_the_loads_id(model):
    rec = Recorder(model, "loadRequested", "deviceFailed")
    loaded(model, GPU0)
    model.switch_device("cuda:1")  # a switch's id moves on: it must not hide the load's fallback
    model.load(None, None, remember=False)
    (request,) = rec.of("loadRequested")[-1]
    model.on_device_fell_back(request.request_id - 1, "an older load's GPU")
    model.on_device_fell_back(request.request_id, "cuda:0 is not there.")
    assert rec.of("deviceFailed") == [("cuda:0 is not there.",)]


def test_devices_are_named_as_a_person_reads_them(model):
    model.on_devices([DeviceInfo("cuda:0", "NVIDIA H100"), DeviceInfo("cpu", "CPU")])
    assert model.device_name("cuda:0") == "NVIDIA H100"
    assert model.device_name("mps") == "mps"


def test_download_progress_of_an_older_load_is_dropped(model):
    rec = Recorder(model, "loadRequested", "downloadProgress")
    model.load(None, None, remember=False)
    (request,) = rec.of("loadRequested")[-1]
    model.on_download(request.request_id - 1, 5, 10)
    model.on_download(request.request_id, 7, 10)
    assert rec.of("downloadProgress") == [(7, 10)]
