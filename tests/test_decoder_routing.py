"""The GPU path's cost model: which queued JPEGs Pillow takes back from nvJPEG while it is busy.

The pipeline runs here on the CPU (nvJPEG is then the backend's CPU decoder): the take-back,
the order of the records and their errors are the same as on a GPU.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from core.decode.gpu import GpuJpegDecoder
from core.decode.gpu_pipeline import GpuJpegPipeline
from core.decode.jpeg_header import parse_jpeg_header
from core.decode.pillow import PillowDecoder
from core.decode.preprocess import Preprocess
from core.decode.routing import nvjpeg_work, pillow_over_nvjpeg, pillow_work
from core.engine import Classifier
from core.model import load_checkpoint

PRE = Preprocess()


def header_of(size: tuple[int, int], **save: object):
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buf, "JPEG", **save)
    header = parse_jpeg_header(buf.getvalue())
    assert header is not None
    return header


def test_pillow_gains_most_on_the_large_photos_it_decodes_at_reduced_size():
    phone = header_of((4000, 3000))  # 12 MP: Pillow decodes it at 1/4 scale
    photo = header_of((1600, 1200))
    thumb = header_of((320, 240))
    gains = [pillow_over_nvjpeg(h, PRE) for h in (phone, photo, thumb)]
    assert gains == sorted(gains)
    assert pillow_work(phone, PRE) < nvjpeg_work(phone)
    assert pillow_work(thumb, PRE) > nvjpeg_work(thumb)
    assert pillow_over_nvjpeg(None, PRE) == float("inf")  # no header: never taken back


def test_a_progressive_photo_costs_pillow_its_full_size_coefficients():
    plain, progressive = header_of((4000, 3000)), header_of((4000, 3000), progressive=True)
    assert pillow_over_nvjpeg(progressive, PRE) > pillow_over_nvjpeg(plain, PRE)


@pytest.fixture(scope="module")
def classifier(checkpoint: Path) -> Classifier:
    return Classifier(load_checkpoint(checkpoint), "cpu")


def test_while_nvjpeg_is_busy_pillow_takes_back_the_photos_it_gains_most_on(
    classifier: Classifier, photos: dict[str, Path], tmp_path: Path, monkeypatch
):
    big = tmp_path / "big.jpg"  # 2,048 x 1,536: Pillow decodes it at half size
    with Image.open(photos["chelsea"]) as img:
        img.convert("RGB").resize((2048, 1536)).save(big, quality=90)
    small = photos["chelsea"]  # 451 x 300
    sources = [small, small, small, big] * 4
    pre, device = classifier.model.preprocess, classifier.device
    # one reader queues the files in their order, so when it has read them all and nvJPEG is
    # still on its first call, the tail it takes back from is the last four: three small, one big
    # (with two, a reader done first could take back from a tail the big one had not reached yet)
    pipe = GpuJpegPipeline(PillowDecoder(), pre, device, 16, readers=1, chunk=4)
    taken: list[str] = []
    helped = threading.Event()
    pillow, decode = pipe.pillow, pipe.decode

    def pillow_noting(r, why):  # type: ignore[no-untyped-def]
        if why == "nvJPEG busy":
            taken.append(Path(r.name).name)
            helped.set()
        return pillow(r, why)

    def slow_decode(reads):  # type: ignore[no-untyped-def]
        helped.wait(timeout=30)  # nvJPEG stays busy until Pillow has taken one back
        return decode(reads)

    monkeypatch.setattr(pipe, "pillow", pillow_noting)
    monkeypatch.setattr(pipe, "decode", slow_decode)
    batches = list(GpuJpegDecoder.run(pipe, sources, lambda: False))
    assert taken and taken[0] == "big.jpg"  # the one it gains most on, not the next in line
    assert [n for b in batches for n in b.names] == [str(p) for p in sources]
    x = torch.cat([b.tensor for b in batches])
    want = torch.stack([classifier.prepare(p) for p in sources])
    assert (x - want).abs().mean() < 0.02
