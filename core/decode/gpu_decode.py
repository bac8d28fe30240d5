"""JPEGs decoded by nvJPEG, then oriented, resized, cropped and normalised as tensors.

The decoding itself is `core.decode.nvjpeg`'s; here is what follows it.

The tensor steps (`orient`, `resize_crop_into`, `normalise_into`) are plain torch and run on any
device: the tests check them on the CPU against Pillow.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from core.decode.batch import Prepared, PreparedBatch
from core.decode.jpeg_header import JpegHeader
from core.decode.preprocess import Preprocess

log = logging.getLogger(__name__)


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
    """The 1/k scale Pillow's `draft` decodes this JPEG at on the Pillow path (`core.decode.images`):
    the largest of 8, 4, 2 that keeps the image at least `DRAFT_OVERSAMPLE` times the resize."""
    from core.decode.images import DRAFT_MIN_SIDE, DRAFT_OVERSAMPLE

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


# ---- a file, and a batch filled as its files are decoded ------------------------------------------
@dataclass
class FileRead:
    """One file after its reader thread: encoded bytes for the GPU, or the Pillow path's
    result when the GPU cannot take it."""

    source: object
    name: str
    data: torch.Tensor | None = None
    header: JpegHeader | None = None
    prepared: Prepared | None = None  # the Pillow path's result
    seconds: float = 0.0


@dataclass
class BatchAssembly:
    """One batch being filled: decoded pictures go into their rows as they come, files from
    the Pillow path (`prepared`: their normalised tensor or error) are copied in at the end."""

    pre: Preprocess
    device: torch.device
    size: int
    reads: list[FileRead | None] = field(default_factory=list)
    levels: torch.Tensor | None = None
    on_gpu: list[int] = field(default_factory=list)
    missing: int = 0

    def __post_init__(self) -> None:
        self.reads = [None] * self.size
        self.missing = self.size

    def put_decoded(self, i: int, r: FileRead, img: torch.Tensor, orientation: int) -> None:
        """A decoded picture into row `i`, turned by `orientation` (1: already upright)."""
        if self.levels is None:
            c = self.pre.crop_size
            self.levels = torch.empty((self.size, 3, c, c), device=self.device)
        resize_crop_into(img, self.pre, self.levels[i], orientation)
        self.on_gpu.append(i)
        self.put(i, r)

    def put(self, i: int, r: FileRead) -> None:
        self.reads[i] = r
        self.missing -= 1

    def finish(self) -> PreparedBatch:
        """Normalise the decoded rows, copy in the Pillow path's, and mark the batch ready."""
        reads = self.reads
        gpu = set(self.on_gpu)
        cpu = [i for i, r in enumerate(reads) if i not in gpu and _ok(r)]
        good = sorted(gpu | set(cpu))
        rows = {i: row for row, i in enumerate(good)}
        tensor = None
        if good:
            device, c = self.device, self.pre.crop_size
            if self.levels is None:  # every row from the Pillow path
                shape = (len(good), 3, c, c)
                tensor = torch.empty(shape, device=device, memory_format=torch.channels_last)
            else:
                levels = self.levels if len(good) == self.size else self.levels[good]
                tensor = normalise_into(levels, self.pre)
            if cpu:  # already normalised by the Pillow path: through pinned memory
                host = torch.stack([reads[i].prepared.tensor for i in cpu])
                if device.type == "cuda":
                    host = host.pin_memory()
                idx = torch.tensor([rows[i] for i in cpu], device=device)
                tensor[idx] = host.to(device, non_blocking=True)
        ready = None
        if self.device.type == "cuda":
            ready = torch.cuda.Event()
            ready.record(torch.cuda.current_stream(self.device))
        return PreparedBatch(
            names=[r.name for r in reads],
            rows=[rows.get(i) for i in range(self.size)],
            errors=[None if i in rows else _error(r) for i, r in enumerate(reads)],
            seconds=[r.seconds + (r.prepared.seconds if r.prepared else 0.0) for r in reads],
            tensor=tensor,
            ready=ready,
            gpu_decoded=len(gpu),
        )


def _ok(r: FileRead) -> bool:
    return r.prepared is not None and r.prepared.tensor is not None


def _error(r: FileRead) -> str | None:
    return r.prepared.error if r.prepared is not None else "unreadable"
