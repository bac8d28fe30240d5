"""What the GPU path reads of a JPEG before decoding it: size, sampling, EXIF orientation.

Parsed on the CPU from the file's bytes (no decoding), so that each file is routed before the
GPU sees it: nvJPEG for what it decodes as Pillow would, Pillow's path for the rest
(`JpegHeader.gpu_refusal` says why).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

# SOF markers nvJPEG decodes: baseline, extended and progressive Huffman.
_NVJPEG_SOF = frozenset({0xC0, 0xC1, 0xC2})
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')


@dataclass(frozen=True)
class JpegHeader:
    """What the GPU path needs to know of a JPEG before decoding it."""

    width: int
    height: int
    components: int
    precision: int
    sof: int  # the frame marker: 0xC0 baseline, 0xC2 progressive...
    orientation: int = 1  # EXIF orientation 1-8 (1: as stored)
    adobe_transform: int | None = None  # APP14: 0 means the 3 channels are RGB, not YCbCr
    complete: bool = True  # ends with the end-of-image marker
    sampling: tuple[tuple[int, int], ...] = ()  # (h, v) sampling factors per component
    tables_defined: bool = True  # every quantisation table the frame uses is in the file

    @property
    def progressive(self) -> bool:
        return self.sof == 0xC2

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def subsampling(self) -> str:
        """ "4:2:0", "4:2:2", "4:4:4"... or "grey", as a person names it."""
        if self.components == 1:
            return "grey"
        if len(self.sampling) != 3 or self.sampling[1] != self.sampling[2]:
            return "other"
        (h, v), (ch, cv) = self.sampling[0], self.sampling[1]
        names = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0"}
        return names.get((h // ch, v // cv), "other") if ch and cv else "other"

    def gpu_refusal(self) -> str | None:
        """Why this file takes the Pillow path, or None when nvJPEG takes it."""
        if self.sof not in _NVJPEG_SOF:
            return f"JPEG coding 0x{self.sof:02X} (lossless or arithmetic)"
        if self.precision != 8:
            return f"{self.precision}-bit JPEG"
        if self.components not in (1, 3):
            return f"{self.components} channels (CMYK or YCCK)"
        if self.components == 3 and self.adobe_transform == 0:
            return "channels stored as RGB, not YCbCr"
        if self.progressive:
            # nvJPEG decodes them one at a time with the Huffman pass on one CPU thread, and
            # holds torchvision's decoder lock all the while: Pillow's threads are faster
            return "progressive"
        if self.components == 3 and self.subsampling == "other":
            return "unusual chroma sampling"
        if self.width <= 0 or self.height <= 0:
            return "no size in the frame header"
        if not self.tables_defined:
            return "a quantisation table is missing"
        if not self.complete:
            return "no end-of-image marker (truncated?)"
        return None


def parse_jpeg_header(data: Any) -> JpegHeader | None:
    """The frame header and EXIF orientation of a JPEG (bytes or any buffer of them), or None
    if `data` is not one we can read.

    Orientation is Pillow's: the first EXIF block's tag 0x0112, else XMP's `tiff:Orientation`
    (as `Image.getexif` does), so `ImageOps.exif_transpose` and this agree.
    """
    buf = memoryview(data)
    n = len(buf)
    if n < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        return None
    pos = 2
    exif_orientation: int | None = None
    xmp_orientation: int | None = None
    adobe: int | None = None
    frame: tuple[int, int, int, int, int] | None = None  # sof, precision, height, width, comps
    sampling: list[tuple[int, int]] = []
    tables_used: set[int] = set()
    tables: set[int] = set()
    while pos + 4 <= n:
        if buf[pos] != 0xFF:
            return None
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        if marker == 0xD9:  # the end before any scan
            return None
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        if length < 2 or pos + 2 + length > n:
            return None
        seg = buf[pos + 4 : pos + 2 + length]
        if marker == 0xDA:  # the first scan: the header is over
            break
        if marker == 0xE1:
            if bytes(seg[:6]) == b"Exif\x00\x00":
                if exif_orientation is None:
                    exif_orientation = _exif_orientation(bytes(seg[6:])) or 0
            elif bytes(seg[: len(_XMP_PREFIX)]) == _XMP_PREFIX and xmp_orientation is None:
                found = _XMP_ORIENTATION.search(bytes(seg))
                if found:
                    xmp_orientation = int(found[2])
        elif marker == 0xEE and bytes(seg[:5]) == b"Adobe" and len(seg) >= 12:
            adobe = seg[11]
        elif marker == 0xDB:
            i = 0
            while i < len(seg):
                tables.add(seg[i] & 0x0F)
                i += 1 + (128 if seg[i] >> 4 else 64)
        elif marker in _SOF_MARKERS and frame is None:
            if len(seg) < 6:
                return None
            precision, height, width, comps = struct.unpack(">BHHB", bytes(seg[:6]))
            frame = (marker, precision, height, width, comps)
            for c in range(comps):
                if 6 + 3 * c + 2 < len(seg):
                    hv = seg[6 + 3 * c + 1]
                    sampling.append((hv >> 4, hv & 0x0F))
                    tables_used.add(seg[6 + 3 * c + 2])
        pos += 2 + length
    if frame is None:
        return None
    sof, precision, height, width, comps = frame
    orientation = exif_orientation or xmp_orientation or 1
    tail = bytes(buf[max(0, n - 64) :]).rstrip(b"\x00")
    return JpegHeader(
        width=width,
        height=height,
        components=comps,
        precision=precision,
        sof=sof,
        orientation=orientation if 1 <= orientation <= 8 else 1,
        adobe_transform=adobe,
        complete=tail.endswith(b"\xff\xd9"),
        sampling=tuple(sampling),
        tables_defined=tables_used <= tables,
    )


def _exif_orientation(tiff: bytes) -> int | None:
    """Tag 0x0112 of IFD0 in a TIFF-structured EXIF block."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    end = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(end + "I", tiff, 4)
        (count,) = struct.unpack_from(end + "H", tiff, ifd)
        for i in range(count):
            tag, kind = struct.unpack_from(end + "HH", tiff, ifd + 2 + 12 * i)
            if tag == 0x0112:
                if kind == 3:  # SHORT
                    return struct.unpack_from(end + "H", tiff, ifd + 2 + 12 * i + 8)[0]
                if kind == 4:  # LONG, seen in some writers
                    return struct.unpack_from(end + "I", tiff, ifd + 2 + 12 * i + 8)[0]
                return None
    except struct.error:
        return None
    return None


def as_one_by_one_sampling(data: Any) -> Any:
    """A greyscale JPEG (any writable buffer) with its sampling factors written as 1x1, in
    place.

    A one-component frame is decoded one 8x8 block at a time whatever its factors say (JPEG
    standard, A.2.2), so the picture is the same. An earlier H100 run decoded greyscale files
    stored with 2x1 factors wrong (input difference 1.8); written as 1x1, all 273 greyscale
    photos of the benchmark folder agree with Pillow (`benchmarks/results/gpu_decode.md`).
    Colour JPEGs are left as they are.
    """
    buf = memoryview(data)
    pos, n = 2, len(buf)
    while pos + 4 <= n and buf[pos] == 0xFF:
        marker = buf[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        if marker in _SOF_MARKERS:
            if length >= 11 and buf[pos + 9] == 1:  # one component: its factors at +11
                buf[pos + 11] = 0x11
            break
        pos += 2 + length
    return data
