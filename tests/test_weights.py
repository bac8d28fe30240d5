"""The ImageNet weights' first-run download, served from 127.0.0.1, and the offline case."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from core import weights as weights_mod
from core.engine import Classifier
from core.errors import Cancelled, WeightsUnavailableError
from core.model import IMAGENET_LABELS, load_imagenet


class _Server:
    def __init__(self, root: Path) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                hits.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def mirror(tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    """A local server holding a checkpoint under a torch-style name with its own hash prefix,
    an empty torch hub cache, and no bundled weights."""
    served = tmp_path / "served"
    served.mkdir()
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    name = f"resnet50-{digest[:8]}.pth"
    (served / name).write_bytes(checkpoint.read_bytes())
    server = _Server(served)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv(weights_mod.BUNDLED_ENV, str(tmp_path / "no_bundle"))
    monkeypatch.setenv(weights_mod.URL_ENV, server.url + "/models")
    monkeypatch.setattr(weights_mod, "file_name", lambda w: name)
    (served / "models").mkdir()
    (served / "models" / name).write_bytes(checkpoint.read_bytes())
    yield server, name, served / "models"
    server.close()


def test_first_run_downloads_with_progress_then_uses_the_cache(mirror, photos):
    server, name, _ = mirror
    seen: list[tuple[int, int]] = []
    model = load_imagenet(progress=lambda done, total: seen.append((done, total)))
    assert server.hits == [f"/models/{name}"]
    total = seen[-1][1]
    assert total > 50_000_000 and seen[-1][0] == total
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert model.labels == IMAGENET_LABELS
    assert model.preprocess.resize_size == 232  # IMAGENET1K_V2's own transforms
    cached = Path(torch.hub.get_dir()) / "checkpoints" / name
    assert cached.is_file()
    result = Classifier(model, "cpu").classify(photos["chelsea"])
    assert len(result.predictions) == 5

    load_imagenet()  # second launch: no network
    assert len(server.hits) == 1


def test_a_bundled_file_is_used_before_the_network(mirror, tmp_path, checkpoint, monkeypatch):
    server, name, _ = mirror
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / name).write_bytes(checkpoint.read_bytes())
    monkeypatch.setenv(weights_mod.BUNDLED_ENV, str(bundle))
    assert weights_mod.ensure_weights() == bundle / name
    assert server.hits == []


def test_a_tampered_download_is_discarded(mirror):
    _, name, served = mirror
    target = served / name
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(WeightsUnavailableError, match="integrity check"):
        load_imagenet()
    leftovers = list((Path(torch.hub.get_dir()) / "checkpoints").glob("*"))
    assert leftovers == []


def test_offline_names_the_ways_out(mirror, monkeypatch):
    server, _, _ = mirror
    server.close()
    with pytest.raises(WeightsUnavailableError) as err:
        load_imagenet()
    assert err.value.exit_code == 3
    assert err.value.file_name == mirror[1]
    assert err.value.folder == str(Path(torch.hub.get_dir()) / "checkpoints")
    assert f"put it in {err.value.folder}" in str(err.value)
    # Neutral: each front end adds its own way out (a flag, a menu).
    assert "--weights" not in str(err.value) and "File >" not in str(err.value)


def test_no_name_lookup_is_said_in_words(tmp_path):
    reason = socket.gaierror(-2, "Name or service not known")
    err = weights_mod.missing_weights_error(reason, tmp_path / "resnet50-11ad3fa6.pth")
    assert err.offline
    assert str(err).startswith("This computer is offline")
    assert "Errno" not in str(err) and "-2" not in str(err)
    assert "resnet50-11ad3fa6.pth (about 98 MB)" in str(err)


def test_download_can_be_cancelled(mirror):
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done > 1_000_000:
            cancel.set()

    with pytest.raises(Cancelled):
        weights_mod.ensure_weights(progress=progress, cancel=cancel)
    assert list((Path(torch.hub.get_dir()) / "checkpoints").glob("*")) == []


def test_v1_is_selectable_and_unknown_variants_are_refused():
    assert weights_mod.weights_enum("imagenet1k_v1").name == "IMAGENET1K_V1"
    with pytest.raises(WeightsUnavailableError, match="IMAGENET1K_V2"):
        weights_mod.weights_enum("V3")
