"""The engine holds a decoder: any object with `pillow`, `one` and `batches` turns images into
input, and only the engine runs the network and builds the results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from core import (
    Classifier,
    ExitCode,
    GpuJpegDecoder,
    PillowDecoder,
    __version__,
    decoder_for,
    explain,
    load_checkpoint,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def folder(tmp_path: Path, photos: dict[str, Path]) -> list[Path]:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really")
    return [photos["chelsea"], broken, photos["coffee"], tmp_path / "missing.png"]


class CountingDecoder:
    """A decoder of a client's own: Pillow's batches, counted."""

    def __init__(self) -> None:
        self.pillow = PillowDecoder()
        self.batches_made = 0

    def one(self, source, pre, device):  # type: ignore[no-untyped-def]
        return self.pillow.one(source, pre, device)

    def batches(self, sources, pre, device, batch_size, stop, workers=None):  # type: ignore[no-untyped-def]
        for batch in self.pillow.batches(sources, pre, device, batch_size, stop, workers):
            self.batches_made += 1
            yield batch


def test_a_decoder_of_ones_own_feeds_the_engine(checkpoint: Path, folder: list[Path]):
    counting = CountingDecoder()
    mine = Classifier(load_checkpoint(checkpoint), "cpu", decoder=counting)
    reference = Classifier(load_checkpoint(checkpoint), "cpu", decoder=PillowDecoder())
    got = [r.to_dict() for r in mine.classify_many(folder, batch_size=2)]
    assert counting.batches_made == 2
    assert got == [r.to_dict() for r in reference.classify_many(folder, batch_size=2)]
    assert "error" in got[1] and "error" in got[3] and "predictions" in got[2]


def test_off_cuda_the_default_decoder_gives_the_pillow_records(checkpoint: Path, folder):
    default = Classifier(load_checkpoint(checkpoint), "cpu")
    assert isinstance(default.decoder, GpuJpegDecoder)
    assert isinstance(decoder_for("cpu"), PillowDecoder)
    pillow = Classifier(load_checkpoint(checkpoint), "cpu", decoder=decoder_for("cpu"))
    assert [r.to_dict() for r in default.classify_many(folder)] == [
        r.to_dict() for r in pillow.classify_many(folder)
    ]
    assert default.classify(folder[0]).to_dict() == pillow.classify(folder[0]).to_dict()


def test_the_explainer_draws_on_the_picture_the_classifiers_decoder_made(
    checkpoint: Path, photos: dict[str, Path], tmp_path: Path
):
    large = tmp_path / "large.jpg"
    with Image.open(photos["astronaut"]) as img:
        img.convert("RGB").resize((2048, 2048)).save(large, quality=90)
    drafted = Classifier(load_checkpoint(checkpoint), "cpu")
    whole = Classifier(
        load_checkpoint(checkpoint), "cpu", decoder=PillowDecoder(draft_oversample=None)
    )
    assert explain(drafted, large).size == (512, 512)  # drafted: twice the 256-px resize
    assert explain(whole, large).size == (2048, 2048)


def test_the_version_is_the_one_in_pyproject():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert __version__ == re.search(r'^version = "([^"]+)"', text, re.MULTILINE).group(1)


def test_exit_codes_are_the_documented_ones():
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 130]


def test_classifying_on_the_cpu_never_imports_the_gpu_jpeg_decoder(checkpoint: Path, photos):
    """TorchCodec (30 ms to import) is looked for only when a GPU would use it."""
    import subprocess
    import sys

    code = (
        "import sys; from core import Classifier, load_checkpoint;"
        f"c = Classifier(load_checkpoint({str(checkpoint)!r}), 'cpu');"
        f"c.classify({str(photos['chelsea'])!r});"
        f"list(c.classify_many([{str(photos['coffee'])!r}]));"
        "print('torchcodec' in sys.modules, 'torchvision.io' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "False"
