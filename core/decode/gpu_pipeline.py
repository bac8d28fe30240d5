"""A folder's JPEGs decoded by the GPU and the CPU at once, a batch ahead of the network.

On a GPU the Pillow path is decode-bound: 15 decoding threads feed 376 images/s to a network that
takes over 5,000 (`benchmarks/results/gpu.md`). Here nvJPEG decodes most JPEGs and Pillow's
threads decode the rest, and neither waits for the other (`benchmarks/results/gpu_decode.md`):

- reader threads read each file and parse its header (`core.decode.jpeg_header`). What nvJPEG cannot
  take (other formats, CMYK, progressive...) goes through the engine's Pillow path on that
  thread, so its result, or its error record, is the CPU path's;
- one decoder thread hands nvJPEG the queued JPEGs, many per call (`core.decode.gpu_decode`: the call
  blocks and holds a global lock, so a second caller would only wait);
- while nvJPEG is busy and the readers are a window ahead, they take JPEGs back from the end of
  its queue, those Pillow gains most on first (large ones, which it decodes at 1/2 to 1/8 scale:
  `core.decode.routing`'s cost model), and decode them with Pillow: the CPU's share grows until
  nvJPEG has no queue;
- an assembly thread orients, resizes and crops what nvJPEG decoded into its batch's rows on a
  side stream, and hands the batches over in order, each with an event the network waits on.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time

import torch

from core.decode.batch import PreparedBatch
from core.decode.files import source_name
from core.decode.gpu_decode import BatchAssembly, FileRead
from core.decode.images import size_is_refused
from core.decode.jpeg_header import JpegHeader, as_one_by_one_sampling, parse_jpeg_header
from core.decode.nvjpeg import NvJpeg, greyscale_decoded_right
from core.decode.pillow import PillowDecoder
from core.decode.preprocess import Preprocess

log = logging.getLogger(__name__)

# Folder batches on the GPU path are at least this large: fewer batch boundaries to wait at
# (H100, 2,000 photos, fp32: 1,711 images/s at 256 against 1,377 at 128).
GPU_MIN_BATCH = 256

# One nvJPEG call takes at most this many files and megapixels: the hardware decoders need
# many files at once (H100: 1,458 images/s in calls of 8, 2,488 of 128, 2,548 of 256), and the
# decoded pictures wait on the GPU until they are resized.
NVJPEG_CHUNK = 256
NVJPEG_CHUNK_MEGAPIXELS = 400.0

# A file is read whole for nvJPEG; a larger one (no photo's JPEG is near it, a renamed video
# may be gigabytes) takes the Pillow path, which reads only what it decodes.
MAX_GPU_FILE_BYTES = 64 * 1024 * 1024


# ---- one file, and one batch ----------------------------------------------------------------
def _read_bytes(source: object) -> torch.Tensor:
    """A file's bytes as a uint8 tensor. `torchvision.io.read_file` reads it in one call that
    lets go of the GIL once (Python's open, stat and read take it back three times more, and
    each time may wait for the thread that holds it: `benchmarks/results/gpu_decode.md`)."""
    if isinstance(source, bytes):
        return torch.frombuffer(bytearray(source), dtype=torch.uint8)
    from torchvision.io import read_file

    return read_file(os.fspath(source))  # type: ignore[arg-type]


def _read_whole(source: object) -> tuple[torch.Tensor | None, str | None]:
    """The file's bytes for nvJPEG, or None and why the Pillow path reads it instead (it reads
    only what it decodes, and says what is wrong with a missing or empty file)."""
    try:
        path = None if isinstance(source, bytes) else os.fspath(source)  # type: ignore[arg-type]
        if path is not None and os.stat(path).st_size > MAX_GPU_FILE_BYTES:
            return None, "over 64 MB"
        return _read_bytes(source), None
    except (OSError, RuntimeError, TypeError):
        return None, "unreadable"


# ---- the pipeline ---------------------------------------------------------------------------
class GpuJpegPipeline:
    """One file's route to nvJPEG or Pillow, and one batch's assembly, for `pre` on `device`.

    A folder's threads are `core.decode.gpu_run.PipelineRun`; files nvJPEG cannot take go to
    `fallback`, the Pillow decoder, so their results and errors are the Pillow path's.
    """

    def __init__(
        self,
        fallback: PillowDecoder,
        pre: Preprocess,
        device: torch.device,
        batch_size: int = GPU_MIN_BATCH,
        readers: int | None = None,
        depth: int = 2,
        chunk: int | None = None,
        backend: str | None = None,
    ) -> None:
        self.fallback = fallback
        self.pre = pre
        self.device = device
        self.batch_size = max(1, batch_size)
        # more readers than this fight over the GIL (H100, 16 cores: 8 readers beat 15 and 4)
        self.readers = readers or max(2, min(8, (os.cpu_count() or 2) - 1))
        self.depth = max(1, depth)
        self.chunk = max(1, chunk or NVJPEG_CHUNK)
        self.routes: collections.Counter[str] = collections.Counter()
        self._routes_lock = threading.Lock()
        self.nvjpeg = NvJpeg(self.device, self.count, backend)
        self.stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        self.grey_ok = greyscale_decoded_right(self.device, self.nvjpeg.backend)

    # -- one file --
    def load(self, source: object) -> tuple[FileRead, str | None]:
        """The file's bytes and header, and why it must take the Pillow path (None: nvJPEG)."""
        start = time.perf_counter()
        name = source_name(source)
        data, refusal = _read_whole(source)
        if data is None:
            return FileRead(source, name, seconds=time.perf_counter() - start), refusal
        raw = data.numpy()
        header = parse_jpeg_header(raw)
        refusal = self.refusal(header)
        if refusal is None and header.components == 1:  # type: ignore[union-attr]
            as_one_by_one_sampling(raw)
        data = None if refusal else data
        return FileRead(source, name, data, header, None, time.perf_counter() - start), refusal

    def read(self, source: object) -> FileRead:
        """`load`, and the Pillow path at once for a file nvJPEG cannot take."""
        r, refusal = self.load(source)
        return r if refusal is None else self.pillow(r, refusal)

    def refusal(self, header: JpegHeader | None) -> str | None:
        """Why a file with this header takes the Pillow path here, or None for nvJPEG."""
        if header is None:
            return "not a JPEG"
        refusal = header.gpu_refusal()
        if refusal is None and header.components == 1 and not self.grey_ok:
            refusal = "greyscale"
        if refusal is None and size_is_refused((header.width, header.height)):
            refusal = "a size the Pillow path refuses"
        return refusal

    def pillow(self, r: FileRead, why: str) -> FileRead:
        """The Pillow path for this file (its result or its error record)."""
        log.debug("%s: Pillow path (%s)", r.name, why)
        self.count(f"Pillow: {why}")
        start = time.perf_counter()
        r.prepared = self.fallback.prepare_one(r.source, self.pre)  # type: ignore[arg-type]
        r.data = None
        r.seconds += time.perf_counter() - start - r.prepared.seconds
        return r

    def count(self, route: str, n: int = 1) -> None:
        with self._routes_lock:
            self.routes[route] += n

    # -- decoding --
    def decode(self, reads: list[FileRead]) -> list[torch.Tensor | None]:
        """nvJPEG on the whole list; None where it refuses a file (see `NvJpeg`)."""
        out = self.nvjpeg.decode([r.data for r in reads])  # type: ignore[misc]
        self.count("nvJPEG", sum(img is not None for img in out))
        return out

    def place(self, asm: BatchAssembly, i: int, r: FileRead, img: torch.Tensor | None) -> None:
        """A decoded picture into its row; a file nvJPEG refused through Pillow instead."""
        if img is None:
            asm.put(i, self.pillow(r, "nvJPEG refused it"))
        else:
            asm.put_decoded(i, r, img, self.orientation(r))

    def orientation(self, r: FileRead) -> int:
        """How a picture nvJPEG decoded still has to be turned (1: TorchCodec turned it)."""
        return 1 if self.nvjpeg.upright else r.header.orientation  # type: ignore[union-attr]

    def build(self, reads: list[FileRead]) -> PreparedBatch:
        """One batch decoded and assembled on this thread (single photos, tests)."""
        asm = BatchAssembly(self.pre, self.device, len(reads))
        gpu = [(i, r) for i, r in enumerate(reads) if r.data is not None]
        for (i, r), img in zip(gpu, self.decode([r for _, r in gpu]), strict=True):
            self.place(asm, i, r, img)
        for i, r in enumerate(reads):
            if asm.reads[i] is None:
                asm.put(i, r)
        return asm.finish()
