"""Files a hostile user (or a bad day) brings: each gets one clear answer, never a hang or a crash.

Every case here was found by a red-team pass (issues 11 and 17) and failed before its fix.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from hostile_corpus import costly_bombs, peak_memory
from PIL import Image

from core.cli.startup import read_ahead
from core.decode.files import expand_paths
from core.decode.images import read_image
from core.decode.preprocess import Preprocess
from core.errors import ImageReadError

ROOT = Path(__file__).resolve().parent.parent


def _read_in_thread(path: Path, **kwargs) -> ImageReadError | Image.Image:
    """`read_image` on a daemon thread, so that a regression that blocks fails, not hangs."""
    out: list = []

    def target() -> None:
        try:
            out.append(read_image(path, **kwargs))
        except ImageReadError as exc:
            out.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert out, f"reading {path} blocked"
    return out[0]


# ---- what is not a regular file ----------------------------------------------------------------
def test_fifo_given_directly_is_not_a_regular_file_and_never_blocks(tmp_path: Path):
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    result = _read_in_thread(fifo)
    assert isinstance(result, ImageReadError)
    assert "x.jpg: not a regular file" in result.message


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/proc/self/mem"])
def test_devices_and_proc_files_are_not_regular_files(device: str):
    result = _read_in_thread(Path(device))
    assert isinstance(result, ImageReadError)
    assert "not a regular file" in result.message, result.message


def test_every_entry_with_an_image_name_in_a_folder_gets_a_record(tmp_path: Path, photos):
    shutil.copy(photos["coffee"], tmp_path / "a_good.png")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "b_broken.jpg")
    os.mkfifo(tmp_path / "c_pipe.jpg")
    os.symlink("/dev/zero", tmp_path / "d_zero.jpg")
    (tmp_path / "notes.txt").write_text("not an image name: not listed")
    found = expand_paths([tmp_path])
    assert [p.name for p in found] == ["a_good.png", "b_broken.jpg", "c_pipe.jpg", "d_zero.jpg"]
    messages = {p.name: _read_in_thread(p) for p in found[1:]}
    assert "broken link" in messages["b_broken.jpg"].message
    assert "not a regular file" in messages["c_pipe.jpg"].message
    assert "not a regular file" in messages["d_zero.jpg"].message


def test_reading_a_folder_ahead_never_opens_a_pipe_or_a_device(tmp_path: Path, photos):
    # `resnet-classify` asks for a folder's first files while the model loads
    shutil.copy(photos["coffee"], tmp_path / "a_good.png")
    os.mkfifo(tmp_path / "b_pipe.jpg")
    os.symlink("/dev/zero", tmp_path / "c_zero.jpg")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "d_broken.jpg")
    thread = threading.Thread(target=read_ahead, args=(expand_paths([tmp_path]),), daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "reading ahead blocked"


def test_unreadable_photo_says_permission_denied_not_damaged(tmp_path: Path, photos):
    secret = tmp_path / "secret.jpg"
    shutil.copy(photos["chelsea"], secret)
    secret.chmod(0)
    code = (
        "import sys\n"
        "from core.errors import ImageReadError\n"
        "from core.decode.images import read_image\n"
        "try:\n    read_image(sys.argv[1])\nexcept ImageReadError as e:\n    print(e.message)\n"
    )
    # Tests run as root: dropping every capability makes the file's mode count.
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [*drop, sys.executable, "-c", code, str(secret)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert out.stdout.strip() == "secret.jpg: permission denied.", out.stderr


# ---- formats -----------------------------------------------------------------------------------
def _psd(path: Path, rgb: np.ndarray) -> Path:
    """A minimal Photoshop file (no layers, raw RGB planes), as Photoshop writes its composite."""
    h, w, _ = rgb.shape
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    body = struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0)
    planes = b"".join(rgb[:, :, c].tobytes() for c in range(3))
    path.write_bytes(header + body + planes)
    return path


def test_a_psd_reads(tmp_path: Path):
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[..., 2] = 255
    img = read_image(_psd(tmp_path / "layers.psd", rgb))
    assert img.size == (40, 30)
    assert img.getpixel((3, 3)) == (0, 0, 255)


def test_heic_and_mpo_in_a_folder_are_found_and_read(tmp_path: Path, photos):
    src = Image.open(photos["chelsea"]).convert("RGB")
    import pillow_heif

    pillow_heif.from_pillow(src).save(tmp_path / "iphone.heic", quality=80)
    src.save(tmp_path / "camera.mpo", format="MPO", save_all=True, append_images=[src])
    found = expand_paths([tmp_path])
    assert [p.name for p in found] == ["camera.mpo", "iphone.heic"]
    for path in found:
        assert read_image(path).size == src.size, path.name


# ---- sizes -------------------------------------------------------------------------------------
def test_a_hair_thin_picture_is_refused_clearly_before_any_huge_resize(tmp_path: Path):
    # 2 x 5000: resizing its short side to 256 would make a 256 x 640,000 intermediate.
    path = tmp_path / "hair.png"
    Image.new("L", (2, 5000), 128).save(path)
    with pytest.raises(ImageReadError, match=r"hair\.png: too long and thin to classify"):
        read_image(path, min_side=256)


def test_a_wide_panorama_still_classifies(tmp_path: Path, photos):
    path = tmp_path / "pano.jpg"
    Image.open(photos["rocket"]).convert("RGB").resize((6000, 400)).save(path)
    tensor = Preprocess()(read_image(path, min_side=256))
    assert tensor.shape == (3, 224, 224)


def test_extreme_aspect_crop_resamples_only_the_crop():
    # An image the size check lets through (under 100:1) still never builds the full resize.
    img = Image.new("RGB", (90, 8000), (10, 200, 30))
    out = Preprocess().resize_crop(img)
    assert out.size == (224, 224)
    assert out.getpixel((100, 100)) == (10, 200, 30)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "GIF", "WEBP", "BMP", "ICO", "PSD"])
def test_bombs_in_every_format_are_refused_with_the_same_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
):
    path = tmp_path / f"bomb.{fmt.lower()}"
    if fmt == "PSD":
        _psd(path, np.zeros((200, 200, 3), np.uint8))
    else:
        Image.new("RGB", (200, 200)).save(path, format=fmt, sizes=[(200, 200)])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30_000)  # 1.3 x the limit: a warning in Pillow
    with pytest.raises(ImageReadError, match="too large to open safely"):
        read_image(path)


def test_the_bomb_check_does_not_lean_on_process_wide_warning_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Warning filters are process-wide: another thread may reset them at any moment.
    path = tmp_path / "bomb.png"
    Image.new("RGB", (200, 200)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30_000)
    monkeypatch.setattr(warnings, "simplefilter", lambda *a, **k: None)
    with pytest.raises(ImageReadError, match="too large to open safely"):
        read_image(path)


# ---- float pictures ----------------------------------------------------------------------------
def _float_tiff(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr.astype(np.float32), "F").save(path)
    return path


def test_float_nan_is_black_and_inf_is_clipped_without_warnings(tmp_path: Path):
    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (8, 1))
    ramp[0, 0] = np.nan
    ramp[0, 1] = np.inf
    ramp[0, 2] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grey = np.asarray(read_image(_float_tiff(tmp_path / "f.tif", ramp)))[..., 0]
    assert grey[0, 0] == 0  # NaN -> 0
    assert grey[0, 1] == 255 and grey[0, 2] == 0  # +inf and -inf clipped to the finite range
    np.testing.assert_array_equal(grey[1], np.rint(np.linspace(0, 255, 64)))  # scaled on finites


def test_one_infinite_pixel_does_not_turn_a_float_image_black(tmp_path: Path):
    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (8, 1))
    ramp[4, 4] = np.inf
    grey = np.asarray(read_image(_float_tiff(tmp_path / "inf.tif", ramp)))[..., 0]
    assert grey[1].max() == 255 and grey[1].min() == 0


def test_an_all_nan_float_image_is_a_clear_error(tmp_path: Path):
    path = _float_tiff(tmp_path / "nan.tif", np.full((8, 8), np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageReadError, match=r"nan\.tif: .*no finite pixel"):
            read_image(path)


def test_classifying_a_thin_picture_gives_one_error_record(tmp_path: Path, checkpoint: Path):
    from core.engine import Classifier
    from core.model import load_checkpoint

    path = tmp_path / "line.png"
    Image.new("L", (1, 40_000), 200).save(path)
    classifier = Classifier(load_checkpoint(checkpoint), "cpu")
    (result,) = list(classifier.classify_many([path]))
    assert result.error is not None and "too long and thin" in result.error


# ---- memory: a pixel budget shared by the decoders --------------------------------------------
def test_decoders_never_hold_more_decoded_pixels_than_the_budget(tmp_path: Path, checkpoint):
    from core.decode.budget import PixelBudget
    from core.decode.pillow import PillowDecoder
    from core.engine import Classifier
    from core.model import load_checkpoint

    paths = []
    for i in range(10):
        path = tmp_path / f"big{i}.png"
        Image.new("RGB", (1500, 1000), (i * 20, 100, 50)).save(path)
        paths.append(path)
    budget = PixelBudget(20_000_000)  # bytes of decoded pixels: two of these images at a time
    classifier = Classifier(
        load_checkpoint(checkpoint), "cpu", decoder=PillowDecoder(pixel_budget=budget)
    )
    results = list(classifier.classify_many(paths, batch_size=2, workers=4))
    assert [r.ok for r in results] == [True] * 10
    assert 0 < budget.peak <= 20_000_000
    assert budget.in_use == 0


def test_an_image_larger_than_the_whole_budget_decodes_alone():
    from core.decode.budget import PixelBudget

    budget = PixelBudget(100)
    with budget.claim() as claim:
        claim.take(10_000)  # does not wait for ever: it runs alone
        assert budget.in_use == 100
    assert budget.in_use == 0


# ---- memory: what one decode really holds ------------------------------------------------------
def test_a_picture_whose_decode_would_not_fit_is_refused_from_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # A few KB on disk; libwebp's canvases and Pillow's copies hold 16 bytes a pixel to decode it.
    path = tmp_path / "canvas.webp"
    Image.new("L", (3000, 3000), 0).save(path, lossless=True)
    import core.decode.images

    monkeypatch.setattr(core.decode.images, "MAX_DECODE_BYTES", 100 * 2**20)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded anyway"))
    with pytest.raises(ImageReadError) as refused:
        read_image(path, min_side=256)
    assert refused.value.message == (
        "canvas.webp: too large to open safely "
        "(3,000 x 3,000 pixels would take 137 MB of memory to decode)."
    )


def test_a_png_with_a_huge_text_block_is_too_large_not_a_python_error(tmp_path: Path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * (PngImagePlugin.MAX_TEXT_CHUNK * 2), zip=True)
    path = tmp_path / "notes.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    with pytest.raises(ImageReadError, match=r"^notes\.png: too large to open safely \(a text"):
        read_image(path)


def test_near_limit_bombs_cost_the_cli_no_more_than_its_decode_budget(
    tmp_path: Path, checkpoint: Path, photos
):
    # Small files, each under Pillow's pixel limit, whose decoding holds far more than their
    # pictures (the float TIFF alone held 4 GB before the fix). Peak memory is compared with
    # the same CLI over as many small photos, on the same machine.
    from core.decode.budget import DECODE_BUDGET_BYTES

    bombs = costly_bombs(tmp_path / "bombs")
    small = tmp_path / "small"
    small.mkdir()
    for i in range(len(bombs)):
        shutil.copy(photos["coffee"], small / f"coffee{i}.png")
    cli = [sys.executable, "-m", "core", "--weights", str(checkpoint), "--format", "json"]

    _, baseline, _ = peak_memory([*cli, str(small)], ROOT)
    code, peak, out = peak_memory([*cli, str(bombs[0].parent)], ROOT)

    extra = peak - baseline
    print(f"\nCLI peak: {baseline / 2**20:.0f} MB over photos, {peak / 2**20:.0f} MB over bombs")
    assert extra < DECODE_BUDGET_BYTES * 1.25, (
        f"the bombs cost {extra / 2**20:.0f} MB over {baseline / 2**20:.0f} MB"
    )
    assert code == 1  # one refused
    records = {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}
    assert "too large to open safely" in records["canvas-10000x8800.webp"]["error"]
    assert "predictions" in records["near-limit-float.tif"]
    assert "predictions" in records["near-limit-rgba.png"]
