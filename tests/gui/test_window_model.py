"""The model side of the window: devices, weights files, offline start, settings, closing."""

from __future__ import annotations

import http.server
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from dnd import MODEL_TIMEOUT_MS, RESULT_TIMEOUT_MS, drop, file_urls
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog

from core.errors import CheckpointError


def test_device_menu_lists_real_devices_and_switching_reclassifies(qtbot, make_window, photos):
    from core.devices import available_devices

    # A remembered GPU that is not there (any more): said so, and the CPU is used.
    window = make_window(device="cuda:99")
    with qtbot.waitSignal(window.itemClassified, timeout=MODEL_TIMEOUT_MS) as first:
        window.start([str(photos["chelsea"])])  # as `resnet-classifier IMAGE` does
    assert first.args[1].ok and first.args[1].device == "cpu"
    assert "The model runs on the CPU instead." in window.notice.text()

    actions = window.device_actions()
    assert [a.text() for a in actions] == [d.name for d in available_devices()]
    assert actions[0].isChecked()
    assert window.status_bar.device.text() == actions[0].text()

    redone: list[int] = []
    window.session.run.runStarted.connect(redone.append)
    actions[0].trigger()  # the CPU it is on: remembered, and nothing classified again
    assert window.settings.device == "cpu" and actions[0].isChecked()
    qtbot.wait(200)
    assert redone == []

    # A GPU that is not there: the reason is shown and the CPU stays.
    with qtbot.waitSignal(window.deviceProblem, timeout=RESULT_TIMEOUT_MS) as problem:
        window.switch_device("cuda:99")
    assert "cuda:99" in problem.args[0] or "GPU 99" in problem.args[0]
    assert window.notice.isVisible()
    assert window.notice.text() == f"Could not switch device: {problem.args[0]}"
    assert actions[0].isChecked()
    assert window.settings.device == "cpu"
    qtbot.waitUntil(lambda: window.status().startswith("Ready"), timeout=RESULT_TIMEOUT_MS)


def test_a_bad_weights_file_says_what_the_cli_says_and_keeps_the_model(
    qtbot, window, photos, tmp_path
):
    bad = tmp_path / "finetuned.pth"
    bad.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    with pytest.raises(CheckpointError) as cli_error:
        from core.model import load_checkpoint

        load_checkpoint(bad)

    with qtbot.waitSignal(window.modelProblem, timeout=MODEL_TIMEOUT_MS) as problem:
        window.load_weights(str(bad))
    assert problem.args[0] == str(cli_error.value)
    assert window.error_dialog is not None and window.error_dialog.isVisible()
    assert window.error_dialog.informativeText() == str(cli_error.value)
    assert window.settings.weights is None  # a file that failed is not remembered
    window.error_dialog.close()

    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS) as got:
        drop(window, file_urls([photos["coffee"]]))
    assert got.args[1].ok  # the previous model is still there


def test_an_unexpected_worker_error_is_shown_not_swallowed(qtbot, window, photos, monkeypatch):
    from core.engine import Classifier

    def broken(*args, **kwargs):
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(Classifier, "classify_many", broken)
    with qtbot.waitSignal(window.workerError, timeout=RESULT_TIMEOUT_MS) as got:
        drop(window, file_urls([photos["chelsea"]]))
    assert got.args[0] == "RuntimeError: the engine fell over"
    assert window.error_dialog is not None and window.error_dialog.isVisible()
    assert "the engine fell over" in window.error_dialog.informativeText()
    assert "Traceback" in window.error_dialog.detailedText()
    assert "the engine fell over" in window.status()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_imagenet_weights(tmp_path, monkeypatch):
    """Nothing bundled, nothing cached; downloads go to a port where nobody listens."""
    (tmp_path / "torch-home").mkdir()
    (tmp_path / "bundled").mkdir()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("RESNET_CLASSIFIER_WEIGHTS_DIR", str(tmp_path / "bundled"))
    monkeypatch.setenv("RESNET_CLASSIFIER_WEIGHTS_URL", f"http://127.0.0.1:{_closed_port()}")


def test_offline_first_run_offers_retry_or_a_file_and_the_next_run_remembers_it(
    qtbot, make_window, settings, checkpoint, no_imagenet_weights, monkeypatch
):
    window = make_window(weights=None)
    with qtbot.waitSignal(window.modelProblem, timeout=MODEL_TIMEOUT_MS) as problem:
        window.start()
    assert "The ImageNet weights could not be downloaded" in problem.args[0]
    dialog = window.models.dialog
    assert dialog is not None and dialog.isVisible()
    # Which file, where the app looks, what still works: in the menus' words, not the CLI's.
    words = dialog.informativeText()
    folder = str(Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints")
    assert "resnet50-11ad3fa6.pth (about 98 MB)" in words and folder in words
    assert "Model > Load Weights…" in words and "Teach New Classes" in words
    assert "--weights" not in words + dialog.text() and "Errno" not in words
    assert dialog.folder_button is not None and dialog.folder == folder
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(opened.append))
    dialog.folder_button.click()  # the folder opens; the choice is still to be made
    qtbot.waitUntil(lambda: window.models.dialog is not None and window.models.dialog.isVisible())
    assert [url.toLocalFile() for url in opened] == [folder] and Path(folder).is_dir()
    assert window.models.retry_button.text() == "&Retry"
    assert window.models.choose_button.text() == "&Choose Weights File…"
    assert "No model loaded" in window.status()

    with qtbot.waitSignal(window.modelProblem, timeout=MODEL_TIMEOUT_MS):
        window.models.retry_button.click()  # still offline: asked again
    assert window.models.dialog is not None and window.models.dialog.isVisible()

    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(checkpoint), ""))
    )
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS) as ready:
        window.models.choose_button.click()
    assert ready.args[0].source == checkpoint.name
    assert window.settings.weights == str(checkpoint)
    window.resize(720, 530)
    window.close()

    # Next run: the same settings bring the same weights file and the window's size back.
    again = make_window(settings=settings, weights=None)
    assert (again.width(), again.height()) == (720, 530)
    with qtbot.waitSignal(again.modelReady, timeout=MODEL_TIMEOUT_MS) as ready:
        again.start()
    assert ready.args[0].source == checkpoint.name


class _SlowWeights(http.server.BaseHTTPRequestHandler):
    """Serves a "weights file" of 500 MB at 128 KB every 20 ms, until the client goes."""

    stop = threading.Event()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(500 * 1024 * 1024))
        self.end_headers()
        chunk = b"\0" * (128 * 1024)
        try:
            while not self.stop.is_set():
                self.wfile.write(chunk)
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server(no_imagenet_weights, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowWeights)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RESNET_CLASSIFIER_WEIGHTS_URL", f"http://127.0.0.1:{server.server_port}")
    yield server
    _SlowWeights.stop.set()
    server.shutdown()
    server.server_close()
    _SlowWeights.stop.clear()


def test_download_shows_progress_and_closing_during_it_exits_cleanly(
    qtbot, make_window, slow_server
):
    window = make_window(weights=None)
    window.start()
    qtbot.waitUntil(
        lambda: window.status_bar.progress.isVisible() and window.status_bar.progress.value() > 0,
        timeout=MODEL_TIMEOUT_MS,
    )
    assert window.status().startswith("Downloading ResNet50 weights:")
    assert "of 500.0 MB" in window.status()
    start = time.perf_counter()
    window.close()
    assert not window.background.running()
    assert time.perf_counter() - start < 5
    partial = list(Path(os.environ["TORCH_HOME"]).rglob("*.partial"))
    assert partial == []  # torch's own download removes its partial file


def test_closing_during_a_prediction_stops_the_threads(qtbot, window, photos):
    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS):
        drop(window, file_urls([photos[n] for n in ("astronaut", "rocket", "chelsea", "coffee")]))
    late: list[object] = []
    window.itemClassified.connect(lambda *a: late.append(a))
    start = time.perf_counter()
    window.close()
    assert not window.background.running()
    assert time.perf_counter() - start < 10
    qtbot.wait(50)  # let anything still queued arrive: it must be dropped
    assert late == []


def test_the_model_warms_up_while_the_window_waits_for_a_photo(qtbot, window, photos):
    """The first forward pass sets up the kernels and is the slowest: it is done before the user
    drops anything, and a photo dropped afterwards is classified as usual."""
    worker = window.background.classifier
    qtbot.waitUntil(lambda: worker.model_warm, timeout=RESULT_TIMEOUT_MS)
    with qtbot.waitSignal(window.itemClassified, timeout=RESULT_TIMEOUT_MS) as done:
        assert drop(window, file_urls([photos["coffee"]]))
    assert done.args[1].ok
