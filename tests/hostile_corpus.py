"""Hostile image folders, made on demand from real photos (never stored in git).

`mutants(folder, seed, count)`: seeded byte flips, truncations and header size fields set to
zero or huge, of real photos in every format the engine reads (the fuzz test's corpus).
`bombs(folder)`: small files that declare huge pictures, in every format (for measuring);
`costly_bombs(folder)` the few of them whose decoding holds most, and `peak_memory` to measure.

    python tests/hostile_corpus.py mutants /tmp/fuzz 300
    python tests/hostile_corpus.py bombs /tmp/bombs
"""

from __future__ import annotations

import io
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

FORMATS = {
    "jpg": {"format": "JPEG", "quality": 85},
    "png": {"format": "PNG"},
    "webp": {"format": "WEBP", "quality": 80},
    "tif": {"format": "TIFF", "compression": "tiff_lzw"},
    "gif": {"format": "GIF"},
    "bmp": {"format": "BMP"},
    "ico": {"format": "ICO", "sizes": [(64, 64)]},
    "heic": {"format": "HEIF", "quality": 70},
}


def seeds() -> list[tuple[str, bytes, tuple[int, int]]]:
    """Real photos (skimage.data), small, encoded in every format: (extension, bytes, size)."""
    import pillow_heif
    from skimage import data

    pillow_heif.register_heif_opener()
    out = []
    for name in ("chelsea", "coffee", "astronaut"):
        photo = Image.fromarray(getattr(data, name)()).convert("RGB")
        photo.thumbnail((160, 160))
        for ext, kwargs in FORMATS.items():
            buf = io.BytesIO()
            photo.save(buf, **kwargs)
            out.append((ext, buf.getvalue(), photo.size))
    return out


def _size_fields(data: bytes, size: tuple[int, int]) -> list[tuple[int, str]]:
    """Where the header stores the width or height: (offset, struct format)."""
    found = []
    head = data[:256]
    for value in set(size):
        for fmt in (">H", "<H", ">I", "<I"):
            packed = struct.pack(fmt, value)
            start = head.find(packed)
            while start != -1:
                found.append((start, fmt))
                start = head.find(packed, start + 1)
    return found


def mutate(data: bytes, size: tuple[int, int], rng: random.Random) -> tuple[str, bytes]:
    """One seeded mutation of `data`: its kind and the mutated bytes."""
    kind = rng.choice(["flip", "flip", "truncate", "size", "size", "chunk"])
    buf = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 12)):
            pos = rng.randrange(len(buf))
            buf[pos] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        buf = buf[: rng.randrange(1, len(buf))]
    elif kind == "size":
        fields = _size_fields(data, size)
        if not fields:
            return mutate(data, size, rng)
        pos, fmt = rng.choice(fields)
        limit = 0xFFFF if fmt.endswith("H") else 0x7FFFFFFF
        value = rng.choice([0, 1, limit, limit // 2, rng.randrange(limit)])
        buf[pos : pos + struct.calcsize(fmt)] = struct.pack(fmt, value)
        if data[:8] == b"\x89PNG\r\n\x1a\n":  # keep IHDR's CRC right so the size is believed
            buf[29:33] = struct.pack(">I", zlib.crc32(bytes(buf[12:29])))
    else:  # a block of the file repeated or zeroed
        start = rng.randrange(len(buf))
        end = min(len(buf), start + rng.randint(1, 512))
        buf[start:end] = bytes(end - start) if rng.random() < 0.5 else buf[start:end] * 3
    return kind, bytes(buf)


def mutants(folder: Path, seed: int = 0, count: int = 300) -> list[Path]:
    """`count` seeded mutants of the seed photos in `folder`, named by format and kind."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    originals = seeds()
    paths = []
    for i in range(count):
        ext, data, size = originals[i % len(originals)]
        kind, mutated = mutate(data, size, rng)
        path = folder / f"{i:04d}-{kind}.{ext}"
        path.write_bytes(mutated)
        paths.append(path)
    return paths


# ---- bombs: small files declaring huge pictures -----------------------------------------------
def _psd_rle(path: Path, w: int, h: int) -> None:
    """A Photoshop file of w x h black pixels, PackBits-compressed (a few MB on disk)."""
    row = b""
    left = w
    while left:
        n = min(128, left)
        row += bytes([257 - n, 0])  # repeat 0, n times
        left -= n
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3) + struct.pack(">III", 0, 0, 0)
    counts = struct.pack(">H", len(row)) * (h * 3)
    path.write_bytes(header + struct.pack(">H", 1) + counts + row * (h * 3))


def costly_bombs(folder: Path) -> list[Path]:
    """Small files under Pillow's pixel limit whose decoding holds far more than their picture:
    a lossless WebP canvas (libwebp's canvases and Pillow's copies: 16 bytes a pixel), a float
    TIFF (float64 arithmetic), an RGBA PNG (composited on white: two pictures)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        folder / "canvas-10000x8800.webp",
        folder / "near-limit-float.tif",
        folder / "near-limit-rgba.png",
    ]
    Image.new("L", (10000, 8800), 0).save(paths[0], lossless=True)
    Image.new("F", (9000, 9000), 0.5).save(paths[1], compression="tiff_adobe_deflate")
    Image.new("RGBA", (9000, 9000), (0, 0, 0, 0)).save(paths[2])
    return paths


def peak_memory(argv: list[str], cwd: Path) -> tuple[int, int, str]:
    """Run `argv` and return its exit code, its peak resident memory in bytes, and its stdout.

    Through a small go-between: Linux counts the forking process's peak in its child's
    ru_maxrss (the child starts as a copy of it), and a test process is large.
    """
    between = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stdout.write(f'{done.returncode} {peak}\\n' + done.stdout.decode())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", between, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "QT_QPA_PLATFORM": "offscreen"},
        check=True,
    )
    head, _, out = done.stdout.partition("\n")
    code, peak_kb = map(int, head.split())
    return code, peak_kb * 1024, out


def bombs(folder: Path) -> list[Path]:
    """Near Pillow's pixel limit (89 Mpx) or far over it, thin lines, many frames, big chunks."""
    folder.mkdir(parents=True, exist_ok=True)
    side = 9000  # 81 Mpx: under the limit, so only a budget keeps memory in check
    blank = Image.new("L", (side, side), 0)
    blank.save(folder / "near-limit.tif", compression="tiff_adobe_deflate")
    blank.save(folder / "near-limit.gif")
    blank.save(folder / "near-limit.png", optimize=False)
    blank.convert("RGB").save(folder / "near-limit.webp", lossless=True)
    del blank
    costly_bombs(folder)
    _psd_rle(folder / "near-limit.psd", side, side)
    # deep and float pictures, and a progressive JPEG (libjpeg keeps every coefficient of a
    # progressive file, whatever the reduced size it is asked for)
    Image.new("I;16", (side, side), 0).save(folder / "near-limit-16bit.png")
    Image.new("RGB", (side, side), (90, 60, 30)).save(
        folder / "near-limit-progressive.jpg", progressive=True, quality=50
    )
    # an ICO whose one entry is a PNG far larger than its directory says
    png = io.BytesIO()
    Image.new("L", (side, side), 0).save(png, format="PNG")
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png.getvalue()), 22)
    (folder / "big-entry.ico").write_bytes(struct.pack("<HHH", 0, 1, 1) + entry + png.getvalue())
    Image.new("L", (20000, 20000), 0).save(folder / "over-limit.png")  # 400 Mpx: refused at once
    # thin lines: the resize of their short side to 256 would be gigapixels
    Image.new("L", (1, 16_000_000), 128).save(folder / "line-1x16000000.png")
    Image.new("L", (10, 3_000_000), 128).save(folder / "line-10x3000000.png")
    Image.new("L", (1, 4_000_000), 128).save(folder / "line-1x4000000.png")
    # many frames and pages
    frames = [Image.new("P", (10, 10), i % 256) for i in range(5000)]
    frames[0].save(folder / "frames-5000.gif", save_all=True, append_images=frames[1:])
    pages = [Image.new("L", (10, 10), i % 256) for i in range(10000)]
    pages[0].save(folder / "pages-10000.tif", save_all=True, append_images=pages[1:])
    # huge text and ICC chunks
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 50_000_000, zip=True)
    Image.new("RGB", (64, 64)).save(folder / "text-chunk.png", pnginfo=info)
    Image.new("RGB", (64, 64)).save(folder / "icc-chunk.png", icc_profile=b"\0" * 50_000_000)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        folder / "icc-chunk.jpg", icc_profile=bytes(16_000_000)
    )
    return sorted(folder.iterdir())


if __name__ == "__main__":
    what, out = sys.argv[1], Path(sys.argv[2])
    if what == "mutants":
        made = mutants(
            out, seed=int(sys.argv[4]) if len(sys.argv) > 4 else 0, count=int(sys.argv[3])
        )
    else:
        made = bombs(out)
    print(f"{len(made)} files in {out}")
