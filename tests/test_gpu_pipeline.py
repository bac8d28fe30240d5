"""The GPU JPEG path: headers, orientation, resize and the per-file fallback.

The tensor steps and the batching are plain torch, so they run here on the CPU against the
Pillow path; the tests at the end need a CUDA GPU and skip without one.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from core.decode import gpu_pipeline
from core.decode.gpu import GpuJpegDecoder, decoder_for
from core.decode.gpu_decode import draft_factor, normalise_into, orient, resize_crop_into
from core.decode.gpu_pipeline import GpuJpegPipeline
from core.decode.gpu_run import PipelineRun
from core.decode.jpeg_header import as_one_by_one_sampling, parse_jpeg_header
from core.decode.nvjpeg import installed_backend as installed_jpeg_backend
from core.decode.pillow import PillowDecoder
from core.decode.preprocess import Preprocess
from core.engine import Classifier
from core.model import load_checkpoint

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def jpeg_bytes(img: Image.Image, **save: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **save)
    return buf.getvalue()


def with_orientation(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return jpeg_bytes(img, quality=90, exif=exif.tobytes())


def pipeline(
    clf: Classifier, batch_size: int, readers: int, chunk: int | None = None
) -> GpuJpegPipeline:
    """The GPU path's pipeline on the classifier's device (on the CPU, nvJPEG is torchvision's
    CPU decoder: the routing, batching and fallback are the same)."""
    pre, device = clf.model.preprocess, clf.device
    return GpuJpegPipeline(PillowDecoder(), pre, device, batch_size, readers, chunk=chunk)


def gpu_results(clf: Classifier, sources, batch_size: int, readers: int, stop=lambda: False):
    """The results of the GPU path's batches, run by the engine as it runs any decoder's."""
    for batch in GpuJpegDecoder.run(pipeline(clf, batch_size, readers), sources, stop):
        yield from clf.classify_batch(batch, 5)


def without_quantisation_tables(data: bytes) -> bytes:
    """A JPEG whose header reads well but whose scan no decoder can decode."""
    out, pos = bytearray(data[:2]), 2
    while data[pos + 1] != 0xDA:
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if data[pos + 1] != 0xDB:
            out += data[pos : pos + 2 + length]
        pos += 2 + length
    return bytes(out + data[pos:])


@pytest.fixture(scope="module")
def portrait(photos: dict[str, Path]) -> Image.Image:
    """A non-square photo, so that a rotation shows."""
    with Image.open(photos["astronaut"]) as img:
        return img.convert("RGB").crop((50, 0, 350, 400))


@pytest.fixture(scope="module")
def classifier(checkpoint: Path) -> Classifier:
    return Classifier(load_checkpoint(checkpoint), "cpu")


# ---- the header -----------------------------------------------------------------------------
def test_the_header_gives_size_and_every_exif_orientation(portrait: Image.Image):
    for orientation in range(1, 9):
        header = parse_jpeg_header(with_orientation(portrait, orientation))
        assert header is not None
        assert (header.width, header.height) == portrait.size
        assert header.orientation == orientation
        assert header.gpu_refusal() is None


def test_xmp_orientation_counts_when_there_is_no_exif(portrait: Image.Image):
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    data = jpeg_bytes(portrait, xmp=xmp)
    assert parse_jpeg_header(data).orientation == 6
    with Image.open(io.BytesIO(data)) as img:
        assert ImageOps.exif_transpose(img).size == portrait.size[::-1]


def test_files_nvjpeg_cannot_take_are_refused_with_the_reason(portrait: Image.Image):
    png = io.BytesIO()
    portrait.save(png, "PNG")
    assert parse_jpeg_header(png.getvalue()) is None
    cmyk = parse_jpeg_header(jpeg_bytes(portrait.convert("CMYK")))
    assert "CMYK" in cmyk.gpu_refusal()
    whole = jpeg_bytes(portrait)
    assert "truncated" in parse_jpeg_header(whole[: len(whole) // 2]).gpu_refusal()
    progressive = parse_jpeg_header(jpeg_bytes(portrait, progressive=True))
    assert progressive.progressive and progressive.gpu_refusal() == "progressive"
    grey = parse_jpeg_header(jpeg_bytes(portrait.convert("L")))
    assert grey.components == 1 and grey.gpu_refusal() is None  # the pipeline decides
    assert "quantisation" in parse_jpeg_header(without_quantisation_tables(whole)).gpu_refusal()
    assert parse_jpeg_header(b"\xff\xd8\xff not really") is None


@pytest.mark.parametrize(("subsampling", "name"), [(0, "4:4:4"), (1, "4:2:2"), (2, "4:2:0")])
def test_chroma_subsampling_is_read_from_the_frame(portrait: Image.Image, subsampling, name):
    header = parse_jpeg_header(jpeg_bytes(portrait, subsampling=subsampling))
    assert header.subsampling == name and header.gpu_refusal() is None


# ---- the tensor steps, on the CPU -----------------------------------------------------------
def test_orientation_turns_the_picture_as_pillow_does(portrait: Image.Image):
    from torchvision.io import ImageReadMode, decode_jpeg

    for orientation in range(1, 9):
        data = with_orientation(portrait, orientation)
        with Image.open(io.BytesIO(data)) as img:
            expected = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
        decoded = decode_jpeg(
            torch.frombuffer(bytearray(data), dtype=torch.uint8), ImageReadMode.RGB
        )
        got = orient(decoded, parse_jpeg_header(data).orientation).permute(1, 2, 0).numpy()
        assert got.shape == expected.shape, orientation
        assert np.abs(got.astype(int) - expected).mean() < 0.5, orientation


@pytest.mark.parametrize(
    ("size", "orientation"),
    [((300, 400), 1), ((683, 512), 6), ((1500, 1000), 1), ((4000, 3000), 8)],
)
def test_resize_and_crop_match_the_pillow_path(
    photos: dict[str, Path], tmp_path: Path, size, orientation
):
    """Within a level up to 1024 px; above, Pillow decodes at reduced size (`draft`), which
    the GPU path follows with block means: still within float noise of the input."""
    from torchvision.io import decode_jpeg

    from core.decode.images import read_image

    pre = Preprocess()
    with Image.open(photos["coffee"]) as img:
        img = img.convert("RGB").resize(size, Image.BICUBIC)
    path = tmp_path / "photo.jpg"
    path.write_bytes(with_orientation(img, orientation))
    decoded = decode_jpeg(torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8))
    levels = torch.empty(1, 3, 224, 224)
    resize_crop_into(decoded, pre, levels[0], orientation)
    upright = read_image(path, pre.resize_size)
    expected = np.asarray(pre.resize_crop(upright), dtype=np.float32).transpose(2, 0, 1)
    diff = np.abs(levels[0].numpy() - expected)
    if max(size) <= 1024:
        assert diff.max() <= 1.0 and diff.mean() < 0.25
    assert diff.mean() < 0.5
    x = normalise_into(levels, pre)
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert (x[0] - pre(upright)).abs().mean() < 0.01


def test_large_jpegs_are_reduced_by_the_factor_pillow_drafts_them_at():
    pre = Preprocess()
    assert draft_factor((1024, 768), pre) == 1  # up to 1024 px: decoded whole
    assert draft_factor((1500, 1000), pre) == 1  # 1/2 would go below 512
    assert draft_factor((2048, 1536), pre) == 2
    assert draft_factor((6000, 4000), pre) == 4
    assert draft_factor((16000, 12000), pre) == 8


# ---- batching and the fallback, on the CPU --------------------------------------------------
@pytest.fixture()
def mixed_folder(tmp_path: Path, photos: dict[str, Path], portrait: Image.Image) -> list[Path]:
    """JPEGs, a rotated one, a progressive one, a PNG, a CMYK JPEG, a truncated one, a file
    with a JPEG header and a damaged body, and one that does not exist."""
    paths = [photos["chelsea"], photos["coffee"]]
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(with_orientation(portrait, 6))
    progressive = tmp_path / "progressive.jpg"
    progressive.write_bytes(jpeg_bytes(portrait, progressive=True))
    cmyk = tmp_path / "cmyk.jpg"
    cmyk.write_bytes(jpeg_bytes(portrait.convert("CMYK")))
    whole = jpeg_bytes(portrait)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole[: len(whole) // 2])
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(without_quantisation_tables(whole))
    missing = tmp_path / "missing.jpg"
    grey = tmp_path / "grey.jpg"
    grey.write_bytes(jpeg_bytes(portrait.convert("L"), quality=90))
    return [*paths, rotated, progressive, cmyk, truncated, damaged, missing, photos["rocket"], grey]


def with_a_bad_marker_in_the_scan(data: bytes) -> bytes:
    """A JPEG whose header is sound but whose scan stops at a marker no decoder accepts."""
    cut = data.index(b"\xff\xda") + 2000
    return data[:cut] + b"\xff\x02" + data[cut:]


def test_reading_sends_only_what_nvjpeg_can_take_to_it(
    classifier: Classifier, mixed_folder: list[Path]
):
    pipe = pipeline(classifier, batch_size=4, readers=2)
    reads = {Path(r.name).name: r for r in map(pipe.read, mixed_folder)}
    gpu = {name for name, r in reads.items() if r.data is not None}
    assert gpu == {"chelsea.jpg", "rotated.jpg", "rocket.jpg", "grey.jpg"}  # CPU decodes grey right
    assert reads["rotated.jpg"].header.orientation == 6
    assert pipe.routes["Pillow: progressive"] == 1 and pipe.routes["Pillow: not a JPEG"] == 1
    assert reads["coffee.png"].prepared.tensor is not None  # Pillow's result, already made
    assert "truncated" in reads["truncated.jpg"].prepared.error


def test_a_folder_gives_the_pillow_paths_results_and_errors_in_order(
    classifier: Classifier, mixed_folder: list[Path]
):
    pillow = list(classifier.classify_many(mixed_folder, batch_size=3))
    gpu_path = list(gpu_results(classifier, mixed_folder, 3, 2))
    assert [r.path for r in gpu_path] == [str(p) for p in mixed_folder]
    assert [r.error for r in gpu_path] == [r.error for r in pillow]
    assert [r.ok for r in gpu_path] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        True,
        True,
    ]
    for a, b in zip(gpu_path, pillow, strict=True):
        if a.ok:
            assert a.top.index == b.top.index, a.path
            assert a.top.probability == pytest.approx(b.top.probability, abs=0.02)


def test_sizes_the_pillow_path_refuses_get_its_error_on_the_gpu_path_too(
    classifier: Classifier, portrait: Image.Image, photos, tmp_path: Path, monkeypatch
):
    thin = tmp_path / "thin.jpg"
    thin.write_bytes(jpeg_bytes(Image.new("RGB", (4000, 8), (120, 30, 200))))
    folder = [thin, photos["chelsea"]]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # chelsea is 451 x 300
    pillow = list(classifier.classify_many(folder, batch_size=2))
    gpu_path = list(gpu_results(classifier, folder, 2, 1))
    assert "too long and thin" in pillow[0].error and "too large" in pillow[1].error
    assert [r.error for r in gpu_path] == [r.error for r in pillow]


def test_a_file_too_large_to_read_whole_takes_the_pillow_path(
    classifier: Classifier, photos, monkeypatch
):
    monkeypatch.setattr(gpu_pipeline, "MAX_GPU_FILE_BYTES", 1000)
    pipe = pipeline(classifier, batch_size=1, readers=1)
    read = pipe.read(photos["chelsea"])
    assert read.data is None and pipe.routes["Pillow: over 64 MB"] == 1
    pillow = classifier.classify_many([photos["chelsea"]], batch_size=1)
    gpu = gpu_results(classifier, [photos["chelsea"]], 1, 1)
    assert next(gpu).top.index == next(pillow).top.index


def test_a_batch_nvjpeg_refuses_is_decoded_file_by_file(
    classifier: Classifier, mixed_folder: list[Path], tmp_path: Path
):
    bad_scan = tmp_path / "damaged.jpg"
    bad_scan.write_bytes(with_a_bad_marker_in_the_scan(mixed_folder[0].read_bytes()))
    pipe = pipeline(classifier, batch_size=4, readers=1)
    good, damaged = pipe.read(mixed_folder[0]), pipe.read(bad_scan)
    assert damaged.data is not None  # the header reads well: nvJPEG gets it
    decoded = pipe.decode([good, damaged])
    assert decoded[0] is not None and decoded[0].shape[0] == 3
    assert decoded[1] is None
    batch = pipe.build([good, damaged])
    assert batch.rows == [0, None] and "damaged" in batch.errors[1]
    assert pipe.routes["nvJPEG refused, then Pillow"] == 2  # in decode, then in build


def test_cancelling_a_folder_stops_between_batches(classifier: Classifier, photos):
    done = []
    sources = [photos["chelsea"]] * 12
    for r in gpu_results(classifier, sources, 4, 2, lambda: len(done) >= 4):
        done.append(r)
    assert 4 <= len(done) < 12


def test_greyscale_is_decoded_as_three_equal_channels(
    classifier: Classifier, mixed_folder, portrait: Image.Image
):
    pipe = pipeline(classifier, batch_size=4, readers=1)
    (img,) = pipe.decode([pipe.read(mixed_folder[-1])])
    assert img.shape[0] == 3 and torch.equal(img[0], img[2])
    # stored with 2x1 luma sampling (the H100 decoded those wrong): rewritten as 1x1 first
    stored = jpeg_bytes(portrait.convert("L"), subsampling=1)
    odd = pipe.read(stored)
    assert odd.data is not None and parse_jpeg_header(odd.data.numpy()).sampling == ((1, 1),)
    (img,) = pipe.decode([odd])
    with Image.open(io.BytesIO(stored)) as pillow:
        assert torch.equal(img[0], torch.from_numpy(np.array(pillow)))


def test_greyscale_sampling_written_as_1x1_gives_the_same_picture(portrait: Image.Image):
    grey = portrait.convert("L")
    for subsampling in (0, 1, 2):
        stored = jpeg_bytes(grey, quality=85, subsampling=subsampling)
        rewritten = as_one_by_one_sampling(bytearray(stored))
        assert parse_jpeg_header(rewritten).sampling == ((1, 1),)
        with Image.open(io.BytesIO(stored)) as a, Image.open(io.BytesIO(rewritten)) as b:
            assert np.array_equal(np.asarray(a), np.asarray(b)), subsampling
    colour = jpeg_bytes(portrait, subsampling=2)
    assert as_one_by_one_sampling(bytearray(colour)) == colour  # colour is left alone


def test_while_nvjpeg_is_busy_the_readers_decode_its_queue_with_pillow(
    classifier: Classifier, photos: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    sources = [photos["chelsea"], photos["rocket"]] * 8
    pipe = pipeline(classifier, batch_size=8, readers=2, chunk=4)
    helped = threading.Event()
    pillow, decode = pipe.pillow, pipe.decode

    def pillow_noting_help(r, why):  # type: ignore[no-untyped-def]
        out = pillow(r, why)
        if why == "nvJPEG busy":
            helped.set()
        return out

    def slow_decode(reads):  # type: ignore[no-untyped-def]
        helped.wait(timeout=30)  # nvJPEG stays busy until a reader has helped
        return decode(reads)

    monkeypatch.setattr(pipe, "pillow", pillow_noting_help)
    monkeypatch.setattr(pipe, "decode", slow_decode)
    batches = list(PipelineRun(pipe, sources).batches())
    assert helped.is_set() and pipe.routes["Pillow: nvJPEG busy"] >= 1
    assert [n for b in batches for n in b.names] == [str(p) for p in sources]
    assert sum(b.gpu_decoded for b in batches) < len(sources)
    x = torch.cat([b.tensor for b in batches])
    want = torch.stack([classifier.prepare(p) for p in sources])
    assert (x - want).abs().mean() < 0.02


def test_the_cpu_never_takes_the_gpu_path(classifier: Classifier):
    assert isinstance(classifier.decoder, GpuJpegDecoder)  # the default, "auto"
    assert not classifier.decoder.uses_gpu(classifier.device)


# ---- on a CUDA GPU ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def on_cuda(checkpoint: Path) -> Classifier:
    return Classifier(load_checkpoint(checkpoint), "cuda", decoder=decoder_for("gpu"))


@cuda
def test_on_cuda_a_folder_agrees_with_the_pillow_path(
    on_cuda: Classifier, classifier: Classifier, mixed_folder: list[Path]
):
    assert on_cuda.decoder.uses_gpu(on_cuda.device)
    pillow = list(classifier.classify_many(mixed_folder))
    gpu_path = list(on_cuda.classify_many(mixed_folder, batch_size=4))
    assert [r.path for r in gpu_path] == [str(p) for p in mixed_folder]
    assert [r.error for r in gpu_path] == [r.error for r in pillow]
    for a, b in zip(gpu_path, pillow, strict=True):
        if a.ok:
            assert a.top.index == b.top.index, a.path
            assert a.top.probability == pytest.approx(b.top.probability, abs=0.02)


@cuda
def test_on_cuda_the_preprocessed_tensor_is_pillows_within_float_noise(
    on_cuda: Classifier, classifier: Classifier, mixed_folder: list[Path]
):
    def prepare_on_gpu(clf: Classifier, path: Path) -> torch.Tensor | None:
        return clf.decoder.on_gpu(path, clf.model.preprocess, clf.device)

    for path in (mixed_folder[0], mixed_folder[2], mixed_folder[-1]):
        gpu = prepare_on_gpu(on_cuda, path)
        if gpu is None and path.name == "grey.jpg":
            continue  # a greyscale sampling this GPU decodes wrong: Pillow's path
        cpu = classifier.prepare(path)
        assert (gpu[0].cpu() - cpu).abs().mean() < 0.02, path
    assert prepare_on_gpu(on_cuda, mixed_folder[1]) is None  # the PNG: Pillow's


@cuda
def test_on_cuda_one_photo_and_decode_cpu(on_cuda: Classifier, photos, checkpoint: Path):
    gpu = on_cuda.classify(photos["chelsea"])
    cpu_decode = Classifier(load_checkpoint(checkpoint), "cuda", decoder=decoder_for("cpu"))
    assert isinstance(cpu_decode.decoder, PillowDecoder)
    ref = cpu_decode.classify(photos["chelsea"])
    assert gpu.top.index == ref.top.index
    assert gpu.top.probability == pytest.approx(ref.top.probability, abs=0.02)


# ---- the decoding backend -------------------------------------------------------------------
@pytest.mark.skipif(installed_jpeg_backend() != "torchcodec", reason="needs TorchCodec")
def test_torchcodec_and_torchvision_give_the_same_rows_every_orientation_once(
    classifier: Classifier, mixed_folder: list[Path], portrait: Image.Image, tmp_path: Path
):
    turned = []
    for o in range(1, 9):  # TorchCodec turns pictures upright itself: never twice
        p = tmp_path / f"o{o}.jpg"
        p.write_bytes(with_orientation(portrait, o))
        turned.append(p)
    sources = [*mixed_folder, *turned]
    rows = {}
    for backend in ("torchcodec", "torchvision"):
        pre, device = classifier.model.preprocess, classifier.device
        pipe = GpuJpegPipeline(PillowDecoder(), pre, device, 4, 2, backend=backend)
        assert pipe.nvjpeg.backend == backend
        batches = list(GpuJpegDecoder.run(pipe, sources, lambda: False))
        rows[backend] = torch.cat([b.tensor for b in batches])
        assert [n for b in batches for n in b.names] == [str(p) for p in sources]
    assert torch.equal(rows["torchcodec"], rows["torchvision"])
    pillow = torch.stack([classifier.prepare(p) for p in turned])
    assert (rows["torchcodec"][-8:] - pillow).abs().mean() < 0.02
