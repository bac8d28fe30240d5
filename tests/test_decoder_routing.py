"""The GPU path's routing: each JPEG to nvJPEG or to Pillow, whichever finishes it first, and
Pillow's share in worker processes that give the Pillow path's own results.

The pipeline runs here on the CPU (nvJPEG is then torchvision's CPU decoder): the routing, the
processes and the order of the records are the same as on a GPU.
"""

from __future__ import annotations

import io
import os
import signal
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from core.decode.gpu import GpuJpegDecoder
from core.decode.gpu_pipeline import GpuJpegPipeline
from core.decode.jpeg_header import parse_jpeg_header
from core.decode.pillow import PillowDecoder
from core.decode.pillow_processes import PillowProcesses
from core.decode.preprocess import Preprocess
from core.decode.routing import NVJPEG, PILLOW, Router, decode_bytes
from core.engine import Classifier
from core.model import load_checkpoint

PRE = Preprocess()


def header_of(size: tuple[int, int], **save: object):
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buf, "JPEG", **save)
    header = parse_jpeg_header(buf.getvalue())
    assert header is not None
    return header


@pytest.fixture(scope="module")
def classifier(checkpoint: Path) -> Classifier:
    return Classifier(load_checkpoint(checkpoint), "cpu")


@pytest.fixture(scope="module")
def processes() -> PillowProcesses:
    pool = PillowProcesses(2, PRE, PillowDecoder().draft_oversample)
    assert pool.ready.wait(60), "the worker processes did not start"
    yield pool
    pool.close()


@pytest.fixture()
def folder(tmp_path: Path, photos: dict[str, Path]) -> list[Path]:
    """Photos of every size the router weighs, a progressive one, a PNG, a truncated and a
    missing file, in an order the records must keep."""
    out = []
    for i, (name, scale) in enumerate(
        [("chelsea", 1), ("astronaut", 4), ("coffee", 1), ("rocket", 6), ("astronaut", 1)] * 3
    ):
        with Image.open(photos[name]) as img:
            img = img.convert("RGB")
            img = img.resize((img.width * scale, img.height * scale))
            path = tmp_path / f"{i:02d}_{name}.jpg"
            img.save(path, quality=90, progressive=(i == 7))
            out.append(path)
    png = tmp_path / "coffee.png"
    with Image.open(photos["coffee"]) as img:
        img.save(png)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(out[0].read_bytes()[:5000])
    return [*out[:5], png, *out[5:9], truncated, tmp_path / "missing.jpg", *out[9:]]


def routed(
    clf: Classifier, sources: list[Path], pool: PillowProcesses | None, chunk: int = 4
) -> tuple[list, GpuJpegPipeline]:
    pipe = GpuJpegPipeline(PillowDecoder(), clf.model.preprocess, clf.device, 4, 2, chunk=chunk)
    out = []
    for batch in GpuJpegDecoder.run(pipe, sources, lambda: False, pool):
        out += clf.classify_batch(batch, 5)
    return out, pipe


# ---- the cost model -----------------------------------------------------------------------------
def test_pillow_gains_most_on_the_large_photos_it_decodes_at_reduced_size():
    router = Router(PRE, pillow_lanes=4)
    phone = header_of((4000, 3000))  # 12 MP: Pillow decodes it at 1/4 scale
    photo = header_of((1600, 1200))
    thumb = header_of((320, 240))
    gains = [router.pillow_over_nvjpeg(h) for h in (phone, photo, thumb)]
    assert gains == sorted(gains)
    assert router.pillow_over_nvjpeg(None) == float("inf")  # no header: nvJPEG's


def test_pillow_takes_a_photo_only_if_it_has_it_done_before_nvjpeg_would():
    router = Router(PRE, pillow_lanes=4, nvjpeg_guess=1 / 3000, pillow_guess=1 / 60)
    phone = header_of((4000, 3000))
    assert not router.pillow_first(phone, nvjpeg_ahead=0.0)  # nvJPEG idle: it is quicker
    assert router.pillow_first(phone, nvjpeg_ahead=400.0)  # 400 MP ahead of it in nvJPEG's queue
    # Pillow's lanes busy with a long queue of their own: nvJPEG's again
    for _ in range(200):
        router.ticket(PILLOW, phone)
    assert not router.pillow_first(phone, nvjpeg_ahead=400.0)


def test_the_rates_are_the_measured_ones_not_the_guesses():
    router = Router(PRE, pillow_lanes=1, nvjpeg_guess=1.0, pillow_guess=1.0)
    phone = header_of((4000, 3000))
    ticket = router.ticket(NVJPEG, phone)
    assert router.pillow_first(phone, nvjpeg_ahead=0.0)  # by the guesses, Pillow is quicker
    router.done([ticket], 0.004)  # this nvJPEG is far faster than guessed
    assert router.rates[NVJPEG].measured == 1
    assert router.rates[NVJPEG].seconds_per_unit == pytest.approx(0.004 / ticket.work)
    assert router.queued[NVJPEG] == 0.0
    assert not router.pillow_first(phone, nvjpeg_ahead=0.0)
    moved = router.move(router.ticket(NVJPEG, phone), phone)
    assert moved.decoder == PILLOW and router.queued == {NVJPEG: 0.0, PILLOW: moved.work}


def test_a_progressive_photo_costs_pillow_its_full_size_coefficients():
    plain, progressive = header_of((4000, 3000)), header_of((4000, 3000), progressive=True)
    router = Router(PRE, pillow_lanes=1)
    assert router.pillow_over_nvjpeg(progressive) > router.pillow_over_nvjpeg(plain)
    assert decode_bytes(progressive, PRE) > 10 * decode_bytes(plain, PRE)


# ---- worker processes ---------------------------------------------------------------------------
def test_worker_processes_give_the_pillow_paths_records_in_order(
    classifier: Classifier, folder: list[Path], processes: PillowProcesses
):
    pillow = list(classifier.classify_many(folder, batch_size=4))
    out, pipe = routed(classifier, folder, processes)
    assert [r.path for r in out] == [str(p) for p in folder]
    assert [r.error for r in out] == [r.error for r in pillow]
    assert sum(n for route, n in pipe.routes.items() if route.startswith("Pillow processes")) >= 3
    assert pipe.routes["nvJPEG"] >= 1  # both decoders took part
    for a, b in zip(out, pillow, strict=True):
        if a.ok:
            assert a.top.index == b.top.index, a.path
            assert a.top.probability == pytest.approx(b.top.probability, abs=0.02)


def test_a_worker_process_decodes_exactly_what_the_pillow_decoder_does(
    folder: list[Path], processes: PillowProcesses
):
    got: dict[int, object] = {}
    all_back = threading.Event()

    def back(i: int, prepared: object) -> None:
        got[i] = prepared
        if len(got) == 4:
            all_back.set()

    for i in (1, 3, 5, 10):  # a 4x photo, a 6x one, the PNG, the truncated file
        assert processes.submit(folder[i], lambda p, _s, i=i: back(i, p))
    assert all_back.wait(60)
    reference = PillowDecoder()
    for i, prepared in got.items():
        want = reference.prepare_one(folder[i], PRE)
        assert prepared.path == want.path and prepared.error == want.error
        if want.tensor is not None:
            assert torch.equal(prepared.tensor, want.tensor), folder[i].name
    assert "truncated" in got[10].error


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers in /proc")
def test_a_worker_process_that_dies_costs_no_file(
    classifier: Classifier, folder: list[Path], monkeypatch: pytest.MonkeyPatch
):
    pool = PillowProcesses(2, PRE, PillowDecoder().draft_oversample)
    assert pool.ready.wait(60)
    killed = []
    submit = pool.submit

    def submit_then_kill(source, on_done):  # type: ignore[no-untyped-def]
        ok = submit(source, on_done)
        if ok and not killed:
            for pid in descendants(os.getpid()):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        return ok

    monkeypatch.setattr(pool, "submit", submit_then_kill)
    try:
        out, _ = routed(classifier, folder * 2, pool)
    finally:
        pool.close()
    assert killed and pool.broken
    pillow = list(classifier.classify_many(folder * 2, batch_size=4))
    assert [r.path for r in out] == [r.path for r in pillow]
    assert [r.error for r in out] == [r.error for r in pillow]


def descendants(pid: int) -> list[int]:
    """Processes whose parent's parent is `pid`: the workers forked by our fork server."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    children = {p for p, parent in parents.items() if parent == pid}
    return [p for p, parent in parents.items() if parent in children]


def test_a_photo_too_large_for_a_workers_memory_share_is_decoded_in_the_main_process(
    classifier: Classifier, folder: list[Path]
):
    pool = PillowProcesses(2, PRE, PillowDecoder().draft_oversample)
    try:
        assert pool.ready.wait(60)
        big = folder[3]  # rocket at 6x: 3,600 x 2,562, decoded at 1/4 scale
        header = parse_jpeg_header(big.read_bytes())
        pool.budget = decode_bytes(header, PRE) - 1  # as with many workers sharing the budget
        out, pipe = routed(classifier, [big] * 12, pool, chunk=2)
    finally:
        pool.close()
    assert all(r.ok for r in out)
    assert not any(route.startswith("Pillow processes") for route in pipe.routes)
