"""Reading whatever image a user drops: modes, orientation, formats, and broken files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.decode.files import expand_paths
from core.decode.images import read_image
from core.errors import ImageReadError


def _save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_every_common_format_reads_as_rgb(tmp_path: Path, photos: dict[str, Path], fmt: str):
    src = Image.open(photos["chelsea"]).convert("RGB")
    path = _save(src, tmp_path / f"cat.{fmt.lower()}", format=fmt)
    img = read_image(path)
    assert img.mode == "RGB"
    assert img.size == src.size


def test_exif_orientation_is_applied(tmp_path: Path):
    # A landscape picture whose EXIF says "rotate 90": a person sees it upright (portrait).
    img = Image.new("RGB", (300, 200), "red")
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(img, tmp_path / "rotated.jpg", exif=exif)
    assert read_image(path).size == (200, 300)


def test_transparency_is_composited_on_white(tmp_path: Path):
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 0))  # fully transparent red
    la = Image.new("LA", (64, 64), (0, 0))
    p = Image.new("P", (64, 64), 0)
    p.putpalette([0, 0, 0] * 256)
    for name, img, kwargs in (
        ("rgba.png", rgba, {}),
        ("la.png", la, {}),
        ("p.png", p, {"transparency": 0}),
    ):
        out = read_image(_save(img, tmp_path / name, **kwargs))
        assert out.mode == "RGB"
        assert out.getpixel((10, 10)) == (255, 255, 255), name


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path: Path):
    ramp = (np.arange(256, dtype=np.uint32) * 257).astype(np.uint16)  # full 16-bit range
    arr = np.tile(ramp, (32, 1))
    path = _save(Image.fromarray(arr), tmp_path / "ramp16.png")
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(read_image(path))[0, :, 0]
    np.testing.assert_array_equal(out, np.arange(256))


def test_cmyk_and_greyscale_and_bilevel(tmp_path: Path, photos: dict[str, Path]):
    src = Image.open(photos["rocket"]).convert("RGB")
    for name, img in (
        ("cmyk.jpg", src.convert("CMYK")),
        ("grey.png", src.convert("L")),
        ("bits.png", src.convert("1")),
    ):
        out = read_image(_save(img, tmp_path / name))
        assert out.mode == "RGB" and out.size == src.size, name
    # CMYK keeps its colours: the sky stays brighter than the rocket's shadow side.
    cmyk = np.asarray(read_image(tmp_path / "cmyk.jpg"), dtype=float)
    assert abs(cmyk.mean() - np.asarray(src, dtype=float).mean()) < 20


def test_first_frame_of_animation_and_multipage(tmp_path: Path):
    frames = [Image.new("RGB", (40, 30), c) for c in ("blue", "red", "green")]
    gif = _save(frames[0], tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    tif = _save(frames[0], tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    for path in (gif, tif):
        r, _g, b = read_image(path).getpixel((5, 5))
        assert b > 200 and r < 50, path.name


def test_pasted_bytes_are_read(photos: dict[str, Path]):
    img = read_image(photos["coffee"].read_bytes())
    assert img.size == (600, 400)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.jpg", b"", "empty"),
        ("notes.txt", b"hello, this is text", "not an image"),
    ],
)
def test_bad_files_give_a_readable_error(tmp_path: Path, name: str, content: bytes, words: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    assert words in str(err.value)
    assert name in str(err.value)


def test_corrupt_png_is_an_error(tmp_path: Path, photos: dict[str, Path]):
    data = bytearray(photos["coffee"].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200] = b"\xff" * 200
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"corrupt\.png: the file is damaged"):
        read_image(path)


def test_truncated_jpeg_is_an_error(tmp_path: Path, photos: dict[str, Path]):
    data = photos["astronaut"].read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)


def test_missing_file_and_folder(tmp_path: Path):
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # A real bomb is a tiny file claiming a huge canvas; lowering the limit makes one cheaply.
    path = _save(Image.new("RGB", (2000, 2000)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    with pytest.raises(ImageReadError, match="too large"):
        read_image(path)


def test_large_jpeg_draft_keeps_enough_pixels(tmp_path: Path, photos: dict[str, Path]):
    big = Image.open(photos["astronaut"]).resize((4096, 4096))
    path = _save(big, tmp_path / "big.jpg", quality=90)
    drafted = read_image(path, min_side=256)
    assert 512 <= min(drafted.size) < 4096
    assert read_image(path).size == (4096, 4096)


def test_expand_paths_lists_images_in_folders(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    for rel in ("b.jpg", "a.PNG", "notes.txt", "sub/c.webp"):
        (tmp_path / rel).write_bytes(b"x")
    assert [p.name for p in expand_paths([tmp_path])] == ["a.PNG", "b.jpg"]
    assert [p.name for p in expand_paths([tmp_path], recursive=True)] == [
        "a.PNG",
        "b.jpg",
        "c.webp",
    ]
    # A file named explicitly is kept even with an unknown extension: the reader decides.
    assert expand_paths([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]


def test_bytes_io_roundtrip_of_every_mode():
    for mode in ("L", "LA", "P", "RGBA", "RGB", "I", "F", "1", "CMYK", "YCbCr"):
        img = Image.new(mode, (20, 10))
        out = read_image(_to_bytes(img))
        assert out.mode == "RGB" and out.size == (20, 10), mode


def _to_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    fmt = "TIFF" if img.mode in ("I", "F", "CMYK", "YCbCr", "LA") else "PNG"
    if img.mode == "YCbCr":
        fmt = "JPEG"
    img.save(buf, format=fmt)
    return buf.getvalue()
