"""JPEGs decoded and preprocessed on the GPU, for folders (and single photos) on CUDA.

On a GPU the Pillow path is decode-bound: 15 decoding threads feed 376 images/s to a network that
takes over 5,000 (`benchmarks/results/gpu.md`). Here the files are read on threads, each JPEG's
header is parsed on the CPU (size, EXIF orientation, whether nvJPEG can take it), the JPEGs of a
batch are decoded together by `torchvision.io.decode_jpeg(device="cuda")` (the H100's hardware
decoders for baseline files), then oriented, resized with antialias and centre-cropped on the
GPU, with the normalisation and the channels-last layout done in one op as the batch is written.
A producer thread builds batch N+1 on its own CUDA stream while the network runs batch N.

Anything nvJPEG cannot take (other formats, CMYK, 12-bit, arithmetic coding, RGB-coded or
truncated JPEGs, a decode that fails) goes through the engine's Pillow path for that file only,
so its result, or its error record, is the CPU path's.

The tensor steps (`orient`, `resize_crop_into`, `normalise_into`) are plain torch and run on any
device: the tests check them on the CPU against Pillow.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import queue
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F

from core.images import source_name
from core.preprocess import Preprocess
from core.results import ClassificationResult

if TYPE_CHECKING:
    from core.model import LoadedModel
    from core.results import Prediction


class Classifier(Protocol):
    """What this pipeline uses of `core.engine.Classifier`. Structural, so that this module,
    which the engine imports, does not import the engine back."""

    model: LoadedModel
    device: torch.device

    def predict(self, batch: torch.Tensor, top_k: int = 5) -> list[tuple[Prediction, ...]]: ...

    def _prepare_one(self, source: Any) -> Any: ...  # core.engine.Prepared


log = logging.getLogger(__name__)

DECODE_CHOICES = ("auto", "gpu", "cpu")

# What `decode="auto"` means on CUDA: the GPU path, or the Pillow path. Set from the agreement
# measured on the benchmark folder (`benchmarks/results/gpu.md`, README "GPU decoding").
GPU_DECODE_BY_DEFAULT = True

# Folder batches on the GPU path are at least this large: the network's throughput grows with
# the batch (batch 8: 1,216 images/s, batch 128: 7,050 in fp32 on the H100) and decoding many
# JPEGs in one nvJPEG call keeps the hardware decoders busy.
GPU_MIN_BATCH = 64

# JPEGs over this many megapixels go to Pillow's threads (None: none do). A share of the
# decoding for the CPU while nvJPEG works through the rest; measured in `benchmarks.gpu_decode`.
PILLOW_ABOVE_MEGAPIXELS: float | None = None

# SOF markers nvJPEG decodes: baseline, extended and progressive Huffman.
_NVJPEG_SOF = frozenset({0xC0, 0xC1, 0xC2})
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')


# ---- the header, read on the CPU -----------------------------------------------------------
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


def parse_jpeg_header(data: bytes | bytearray | memoryview) -> JpegHeader | None:
    """The frame header and EXIF orientation of a JPEG, or None if `data` is not one we can read.

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


# ---- the tensor steps, on any device ------------------------------------------------------
def orient(img: torch.Tensor, orientation: int) -> torch.Tensor:
    """A CxHxW image turned upright as `ImageOps.exif_transpose` turns it (a view where it can)."""
    if orientation == 2:
        return img.flip(-1)
    if orientation == 3:
        return img.flip(-2, -1)
    if orientation == 4:
        return img.flip(-2)
    if orientation == 5:
        return img.transpose(-2, -1)
    if orientation == 6:
        return img.transpose(-2, -1).flip(-1)
    if orientation == 7:
        return img.transpose(-2, -1).flip(-2, -1)
    if orientation == 8:
        return img.transpose(-2, -1).flip(-2)
    return img


def draft_factor(size: tuple[int, int], pre: Preprocess) -> int:
    """The 1/k scale Pillow's `draft` decodes this JPEG at on the Pillow path (`core.images`):
    the largest of 8, 4, 2 that keeps the image at least `DRAFT_OVERSAMPLE` times the resize."""
    from core.images import DRAFT_MIN_SIDE, DRAFT_OVERSAMPLE

    w, h = size
    if max(w, h) <= DRAFT_MIN_SIDE:
        return 1
    scale = pre.resize_size * DRAFT_OVERSAMPLE / min(w, h)
    if scale >= 1:
        return 1
    fits = min(w // math.ceil(w * scale), h // math.ceil(h * scale))
    return next(k for k in (8, 4, 2, 1) if fits >= k)


def resize_crop_into(
    img: torch.Tensor, pre: Preprocess, out: torch.Tensor, orientation: int = 1
) -> None:
    """From a decoded 3xHxW uint8 JPEG (as stored) to its 0-255 centre crop in `out`.

    The Pillow path's steps, in its order: the reduced-size decode of a large JPEG (Pillow's
    `draft`, here the mean of each k x k block, which is what a 1/k DCT decode keeps), the EXIF
    turn, the antialiased bilinear resize of the short side (torch's filter is Pillow's), the
    centre crop, and rounding to whole levels as Pillow's 8-bit images are.
    """
    x = img.unsqueeze(0).float()
    k = draft_factor((img.shape[-1], img.shape[-2]), pre)
    if k > 1:
        x = F.avg_pool2d(x, k, ceil_mode=True).round_()
    x = orient(x, orientation)
    h, w = x.shape[-2:]
    (rw, rh), (left, top) = pre.crop_geometry((w, h))
    c = pre.crop_size
    if (rw, rh) != (w, h):
        x = F.interpolate(x, size=(rh, rw), mode="bilinear", antialias=True, align_corners=False)
    torch.round(x[0, :, top : top + c, left : left + c], out=out)


def normalise_into(levels: torch.Tensor, pre: Preprocess, out: torch.Tensor | None = None):
    """(levels - mean) / std of an Nx3xHxW batch of 0-255 floats, written channels-last: the
    layout change the network's input needs and the normalisation are one pass over memory."""
    mean, std = _statistics(pre, levels.device)
    if out is None:
        out = torch.empty_like(levels, memory_format=torch.channels_last)
    torch.sub(levels, mean, out=out)
    return out.div_(std)


def _statistics(pre: Preprocess, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and std in levels, made once per device (a copy to the GPU per batch would
    wait for the copy engine)."""
    key = (pre.mean, pre.std, str(device))
    if key not in _STATS:
        shape = (1, 3, 1, 1)
        mean = torch.tensor(pre.mean, dtype=torch.float32).view(shape) * 255.0
        std = torch.tensor(pre.std, dtype=torch.float32).view(shape) * 255.0
        _STATS[key] = (mean.to(device), std.to(device))
    return _STATS[key]


_STATS: dict[tuple[object, ...], tuple[torch.Tensor, torch.Tensor]] = {}


# ---- reading, batching, decoding ------------------------------------------------------------
@dataclass
class _Read:
    """One file after its reader thread: encoded bytes for the GPU, or the Pillow path's
    result when the GPU cannot take it."""

    source: object
    name: str
    data: torch.Tensor | None = None
    header: JpegHeader | None = None
    prepared: Any = None  # core.engine.Prepared, from the Pillow path
    seconds: float = 0.0


@dataclass
class GpuBatch:
    """A batch ready for the network: `tensor` holds one row per entry whose `row` is set."""

    names: list[str]
    rows: list[int | None]
    errors: list[str | None]
    seconds: list[float]
    tensor: torch.Tensor | None
    ready: torch.cuda.Event | None
    gpu_decoded: int = 0


def gpu_decode_unavailable(device: torch.device) -> str | None:
    """Why JPEGs cannot be decoded on `device`, or None when they can (tried once, cached)."""
    key = str(device)
    if key not in _PROBED:
        _PROBED[key] = _probe(device)
    return _PROBED[key]


_PROBED: dict[str, str | None] = {}


def _probe(device: torch.device) -> str | None:
    if device.type != "cuda" or not torch.cuda.is_available():
        return "not a CUDA device"
    try:
        import io

        from PIL import Image
        from torchvision.io import ImageReadMode, decode_jpeg

        buf = io.BytesIO()
        Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, "JPEG")
        data = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
        decode_jpeg([data], mode=ImageReadMode.RGB, device=device)
        return None
    except Exception as exc:  # no nvJPEG in this torchvision, a driver problem...
        return f"{type(exc).__name__}: {exc}"


def grey_samplings_decoded_right(device: torch.device) -> frozenset[tuple[int, int]]:
    """The luma sampling factors of greyscale JPEGs that nvJPEG decodes right on `device`.

    Measured on the H100 (`benchmarks/results/gpu_decode.md`): greyscale JPEGs stored with 1x1
    sampling (what cameras and most tools write) came out of `ImageReadMode.GRAY` as Pillow
    decodes them; those stored with 2x1 or 2x2 came out wrong, although a small 2x1 test file
    decoded right. So only 1x1 is trusted, and only where a small test file also decodes
    right here (tried once per device); the rest take the Pillow path.
    """
    key = str(device)
    if key not in _GREY_OK:
        _GREY_OK[key] = _probe_grey(device) & TRUSTED_GREY_SAMPLING
    return _GREY_OK[key]


TRUSTED_GREY_SAMPLING = frozenset({(1, 1)})
_GREY_OK: dict[str, frozenset[tuple[int, int]]] = {}


def _probe_grey(device: torch.device) -> frozenset[tuple[int, int]]:
    import io

    from PIL import Image
    from torchvision.io import ImageReadMode, decode_jpeg

    ramp = torch.arange(96 * 80, dtype=torch.int64).reshape(80, 96)
    pixels = ((ramp * 37) % 251).to(torch.uint8).numpy()
    ok: set[tuple[int, int]] = set()
    for subsampling in (0, 1, 2):
        buf = io.BytesIO()
        Image.fromarray(pixels, "L").save(buf, "JPEG", quality=90, subsampling=subsampling)
        raw = bytearray(buf.getvalue())
        header = parse_jpeg_header(raw)
        if header is None or not header.sampling:
            continue
        data = torch.frombuffer(raw, dtype=torch.uint8)
        try:
            got = decode_jpeg([data], mode=ImageReadMode.GRAY, device=device)[0].cpu()
        except RuntimeError:
            continue
        want = decode_jpeg(data, mode=ImageReadMode.GRAY)
        if got.shape == want.shape and (got.int() - want.int()).abs().float().mean() < 1.0:
            ok.add(header.sampling[0])
    log.info("greyscale JPEGs nvJPEG decodes right on %s: sampling %s", device, sorted(ok))
    return frozenset(ok)


def wants_gpu_decoding(clf: Classifier, decode: str | None = None) -> bool:
    """Whether `clf` takes the GPU path: on CUDA, with `decode` "gpu" (or "auto" while the GPU
    path is the default), and nvJPEG working there."""
    choice = decode or getattr(clf, "decode", "auto")
    if clf.device.type != "cuda" or choice == "cpu":
        return False
    if choice == "auto" and not GPU_DECODE_BY_DEFAULT:
        return False
    reason = gpu_decode_unavailable(clf.device)
    if reason is not None:
        log.warning("JPEGs are decoded by Pillow: the GPU cannot decode them here (%s)", reason)
        return False
    return True


class GpuJpegPipeline:
    """Read on threads, decode and preprocess on a side stream, one batch ahead of the network.

    `batches` yields `GpuBatch`es in order; the caller makes its stream wait on `ready`.
    """

    def __init__(
        self,
        clf: Classifier,
        batch_size: int = GPU_MIN_BATCH,
        readers: int | None = None,
        depth: int = 2,
        pillow_above_megapixels: float | None = None,
    ) -> None:
        from torchvision.io import ImageReadMode, decode_jpeg

        self.clf = clf
        # a share of the decoding for the CPU's threads: Pillow decodes a large JPEG at 1/4 or
        # 1/8 scale (draft) while nvJPEG must decode every pixel, one file at a time
        self.pillow_above = pillow_above_megapixels
        self.routes: collections.Counter[str] = collections.Counter()
        self._routes_lock = threading.Lock()
        self.pre: Preprocess = clf.model.preprocess
        self.device = clf.device
        self.batch_size = max(1, batch_size)
        self.readers = readers or max(2, min(16, (os.cpu_count() or 2) - 1))
        self.depth = depth
        self._decode_jpeg, self._rgb, self._grey = (
            decode_jpeg,
            ImageReadMode.RGB,
            ImageReadMode.GRAY,
        )
        self.stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        self.grey_ok = grey_samplings_decoded_right(self.device)

    # -- one file on a reader thread --
    def read(self, source: object) -> _Read:
        start = time.perf_counter()
        name = source_name(source)
        try:
            if isinstance(source, bytes):
                raw = bytearray(source)
            else:
                with open(source, "rb") as f:  # type: ignore[arg-type]
                    raw = bytearray(os.fstat(f.fileno()).st_size)
                    if f.readinto(raw) != len(raw) or not raw:
                        raise OSError("changed while read")
        except (OSError, TypeError):  # missing, a folder...: the Pillow path says which
            return self._fallback(source, name, start, "unreadable")
        header = parse_jpeg_header(raw)
        refusal = self.refusal(header)
        if refusal is not None:
            log.debug("%s: Pillow path (%s)", name, refusal)
            return self._fallback(source, name, start, refusal)
        self._count("nvJPEG")
        data = torch.frombuffer(raw, dtype=torch.uint8)
        return _Read(source, name, data, header, None, time.perf_counter() - start)

    def refusal(self, header: JpegHeader | None) -> str | None:
        """Why a file with this header takes the Pillow path here, or None for nvJPEG."""
        if header is None:
            return "not a JPEG"
        refusal = header.gpu_refusal()
        grey = header.components == 1
        if refusal is None and grey and header.sampling[:1] not in [(s,) for s in self.grey_ok]:
            refusal = "greyscale"
        if refusal is None and self.pillow_above and header.megapixels > self.pillow_above:
            refusal = f"over {self.pillow_above:g} MP"
        return refusal

    def _count(self, route: str) -> None:
        with self._routes_lock:
            self.routes[route] += 1

    def _fallback(self, source: object, name: str, start: float, why: str) -> _Read:
        self._count(f"Pillow: {why}")
        prepared = self.clf._prepare_one(source)  # type: ignore[arg-type]
        return _Read(source, name, prepared=prepared, seconds=time.perf_counter() - start)

    # -- decoding a batch --
    def decode(self, reads: list[_Read]) -> list[torch.Tensor | None]:
        """nvJPEG on the whole list (colour and greyscale files apart: each call has one output
        mode); if it refuses, file by file, None where it still refuses. Greyscale comes back
        as 3 channels (a view)."""
        out: list[torch.Tensor | None] = [None] * len(reads)
        for grey in (False, True):
            idx = [i for i, r in enumerate(reads) if (r.header.components == 1) == grey]  # type: ignore[union-attr]
            mode = self._grey if grey else self._rgb
            for i, img in zip(idx, self._decode_all([reads[i] for i in idx], mode), strict=True):
                out[i] = img.expand(3, -1, -1) if grey and img is not None else img
        return out

    def _decode_all(self, reads: list[_Read], mode: object) -> list[torch.Tensor | None]:
        if not reads:
            return []
        try:
            return list(self._decode_jpeg([r.data for r in reads], mode=mode, device=self.device))
        except RuntimeError as exc:
            log.debug("batched GPU decode failed (%s); one by one", exc)
            self._count("nvJPEG batch refused, retried file by file")
        out: list[torch.Tensor | None] = []
        for r in reads:
            try:
                out.append(self._decode_jpeg([r.data], mode=mode, device=self.device)[0])
            except RuntimeError as exc:
                log.info("%s: the GPU cannot decode it (%s); Pillow instead", r.name, exc)
                self._count("nvJPEG refused, then Pillow")
                out.append(None)
        return out

    def build(
        self, reads: list[_Read], decoded_gpu: list[torch.Tensor | None] | None = None
    ) -> GpuBatch:
        """Decode (unless `decoded_gpu` holds the decodes of its nvJPEG files), orient, resize,
        crop and normalise one batch on the current stream."""
        start = time.perf_counter()
        gpu = [r for r in reads if r.data is not None]
        if decoded_gpu is None:
            decoded_gpu = self.decode(gpu)
        decoded = dict(zip(map(id, gpu), decoded_gpu, strict=True))
        for r in gpu:
            if decoded[id(r)] is None:
                r.prepared = self.clf._prepare_one(r.source)  # type: ignore[arg-type]
                r.data = None
        c = self.pre.crop_size
        rows: list[int | None] = []
        errors: list[str | None] = []
        on_gpu: list[tuple[int, torch.Tensor, int]] = []
        on_cpu: list[tuple[int, torch.Tensor]] = []
        for r in reads:
            if r.data is not None:
                on_gpu.append((len(on_gpu) + len(on_cpu), decoded[id(r)], r.header.orientation))  # type: ignore[union-attr, arg-type]
                rows.append(on_gpu[-1][0])
                errors.append(None)
            elif r.prepared is not None and r.prepared.tensor is not None:
                on_cpu.append((len(on_gpu) + len(on_cpu), r.prepared.tensor))
                rows.append(on_cpu[-1][0])
                errors.append(None)
            else:
                rows.append(None)
                errors.append(r.prepared.error if r.prepared is not None else "unreadable")
        n = len(on_gpu) + len(on_cpu)
        tensor = None
        if n:
            levels = torch.empty((n, 3, c, c), dtype=torch.float32, device=self.device)
            for row, img, orientation in on_gpu:
                resize_crop_into(img, self.pre, levels[row], orientation)
            tensor = normalise_into(levels, self.pre)
            if on_cpu:  # already normalised by the Pillow path: through pinned memory
                idx = torch.tensor([row for row, _ in on_cpu], device=self.device)
                host = torch.stack([t for _, t in on_cpu])
                if self.device.type == "cuda":
                    host = host.pin_memory()
                tensor[idx] = host.to(self.device, non_blocking=True)
        ready = None
        if self.stream is not None:
            ready = torch.cuda.Event()
            ready.record(self.stream)
        share = (time.perf_counter() - start) / max(1, len(reads))
        return GpuBatch(
            names=[r.name for r in reads],
            rows=rows,
            errors=errors,
            seconds=[
                r.seconds + share + (r.prepared.seconds if r.prepared else 0.0) for r in reads
            ],
            tensor=tensor,
            ready=ready,
            gpu_decoded=len(on_gpu),
        )

    # -- the producer thread --
    def batches(
        self, sources: Iterable[object], stop: threading.Event | None = None
    ) -> Iterator[GpuBatch]:
        """Batches in order; a producer thread keeps `depth` batches ahead of the caller."""
        items = list(sources)
        stop = stop or threading.Event()
        out: queue.Queue[object] = queue.Queue(maxsize=self.depth)
        done = object()

        def decode_on_stream(reads: list[_Read]) -> list[torch.Tensor | None]:
            with torch.cuda.stream(self.stream):
                return self.decode([r for r in reads if r.data is not None])

        def produce() -> None:
            # three kinds of threads: readers (files, headers, Pillow's share), one decoder
            # (torchvision's nvJPEG calls block and take a global lock), and this one, which
            # resizes batch N while the decoder works on batch N+1
            try:
                with (
                    ThreadPoolExecutor(self.readers, thread_name_prefix="read") as pool,
                    ThreadPoolExecutor(1, thread_name_prefix="nvjpeg") as decoder,
                    torch.cuda.stream(self.stream),
                ):
                    pending: deque[Future[_Read]] = deque()
                    i = 0
                    ahead = self.batch_size * (self.depth + 1)

                    def next_batch() -> tuple[list[_Read], Future[list]] | None:
                        nonlocal i
                        while i < len(items) and len(pending) < ahead:
                            pending.append(pool.submit(self.read, items[i]))
                            i += 1
                        if not pending or stop.is_set():
                            return None
                        take = min(self.batch_size, len(pending))
                        reads = [pending.popleft().result() for _ in range(take)]
                        return reads, decoder.submit(decode_on_stream, reads)

                    current = next_batch()
                    while current is not None and not stop.is_set():
                        following = next_batch()
                        reads, decoding = current
                        out.put(self.build(reads, decoding.result()))
                        current = following
                    for fut in pending:
                        fut.cancel()
            except BaseException as exc:  # handed to the caller's thread
                out.put(exc)
            finally:
                out.put(done)

        thread = threading.Thread(target=produce, name="gpu-decode", daemon=True)
        thread.start()
        try:
            while True:
                got = out.get()
                if got is done:
                    return
                if isinstance(got, BaseException):
                    raise got
                yield got  # type: ignore[misc]
        finally:
            stop.set()
            while thread.is_alive():  # let a producer blocked on a full queue finish
                with contextlib.suppress(queue.Empty):
                    out.get(timeout=0.05)
            thread.join()


def take(batch: GpuBatch, device: torch.device) -> torch.Tensor | None:
    """The batch's tensor, safe to use on `device`'s current stream."""
    if batch.tensor is None:
        return None
    if batch.ready is not None:
        stream = torch.cuda.current_stream(device)
        stream.wait_event(batch.ready)
        batch.tensor.record_stream(stream)
    return batch.tensor


def classify_folder(
    clf: Classifier,
    sources: Iterable[object],
    top_k: int,
    batch_size: int,
    should_stop: Callable[[], bool],
    readers: int | None = None,
    min_batch: int = GPU_MIN_BATCH,
    pillow_above_megapixels: float | None = PILLOW_ABOVE_MEGAPIXELS,
) -> Iterator[ClassificationResult]:
    """`Classifier.classify_many` on the GPU path: same results, same order, same errors."""
    from core.errors import OutOfDeviceMemoryError

    pipe = GpuJpegPipeline(
        clf, max(batch_size, min_batch), readers, pillow_above_megapixels=pillow_above_megapixels
    )
    device = str(clf.device)
    for batch in pipe.batches(sources):
        if should_stop():
            return
        start = time.perf_counter()
        preds: list = []
        error: str | None = None
        x = take(batch, clf.device)
        if x is not None:
            try:
                preds = clf.predict(x, top_k)
            except OutOfDeviceMemoryError as exc:
                error = exc.message
        share = (time.perf_counter() - start) / max(1, len(preds))
        for name, row, err, secs in zip(
            batch.names, batch.rows, batch.errors, batch.seconds, strict=True
        ):
            if row is None:
                yield ClassificationResult(path=name, error=err, device=device)
            elif error is not None:
                yield ClassificationResult(path=name, error=error, device=device)
            else:
                yield ClassificationResult(
                    path=name, predictions=preds[row], device=device, seconds=secs + share
                )


def prepare_on_gpu(clf: Classifier, source: object) -> torch.Tensor | None:
    """One photo's 1x3xHxW input on the GPU, or None when it must take the Pillow path
    (not a JPEG nvJPEG takes, or a decode that fails: the Pillow path then says why)."""
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        return None
    pipe = _single_pipe(clf)
    read = pipe.read(source)
    if read.data is None:
        return None
    (img,) = pipe.decode([read])
    if img is None:
        return None
    c = pipe.pre.crop_size
    levels = torch.empty((1, 3, c, c), dtype=torch.float32, device=clf.device)
    resize_crop_into(img, pipe.pre, levels[0], read.header.orientation)  # type: ignore[union-attr]
    return normalise_into(levels, pipe.pre)


def _single_pipe(clf: Classifier) -> GpuJpegPipeline:
    pipe = getattr(clf, "_gpu_single_pipe", None)
    if pipe is None or pipe.device != clf.device or pipe.pre != clf.model.preprocess:
        pipe = GpuJpegPipeline(clf, batch_size=1, readers=1)
        clf._gpu_single_pipe = pipe  # type: ignore[attr-defined]
    return pipe
