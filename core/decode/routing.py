"""Which JPEGs Pillow should take from nvJPEG on the GPU path: a cost model from the header.

Each decoder costs differently per file. nvJPEG decodes every pixel, so its cost follows the full
size; Pillow decodes a large JPEG at 1/2 to 1/8 scale (`draft`), so a 12 MP photo costs it little
more than its entropy decoding and a 1 MP picture, while a small photo costs it far more than
nvJPEG. While nvJPEG is busy, Pillow's threads take back from the end of its queue the photo they
gain most on: the lowest ratio of Pillow's work to nvJPEG's (`core.decode.gpu_run`).

Work is counted in megapixels from the header plus a fixed share per file. Only the ratio between
files matters, so no machine's speed is written here. (Running Pillow's share in worker
processes, with each decoder's rate measured during the run, was measured slower on the H100:
docs/benchmarks.md.)
"""

from __future__ import annotations

from core.decode.gpu_decode import draft_factor
from core.decode.jpeg_header import JpegHeader
from core.decode.preprocess import Preprocess

# A file's fixed cost, in megapixels of the decoder's own work: nvJPEG's per-file share of a
# batched call; Pillow's opening, resizing, cropping and normalising, and handing the rows over.
NVJPEG_FILE_MEGAPIXELS = 0.05
PILLOW_FILE_MEGAPIXELS = 0.3
# Pillow's entropy decoding reads every coefficient whatever the scale: a share of the full size.
PILLOW_ENTROPY_SHARE = 0.15


def nvjpeg_work(header: JpegHeader) -> float:
    """nvJPEG's work for a file: every pixel, at full size."""
    return header.megapixels + NVJPEG_FILE_MEGAPIXELS


def pillow_work(header: JpegHeader, pre: Preprocess) -> float:
    """Pillow's work for a file: the pixels it decodes after `draft`, its entropy decoding, and
    for a progressive file the coefficients of every scan, which it reads at full size."""
    k = draft_factor((header.width, header.height), pre)
    work = header.megapixels * (PILLOW_ENTROPY_SHARE + 1 / (k * k)) + PILLOW_FILE_MEGAPIXELS
    if header.progressive:
        work += header.megapixels / 4
    return work


def pillow_over_nvjpeg(header: JpegHeader | None, pre: Preprocess) -> float:
    """How Pillow's work for a file compares with nvJPEG's (lower: better taken by Pillow)."""
    if header is None:
        return float("inf")
    return pillow_work(header, pre) / nvjpeg_work(header)
