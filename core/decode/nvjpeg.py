"""JPEGs decoded on the GPU, many per call: TorchCodec where it is installed, else torchvision.

Both send the baseline JPEGs of a list to the GPU's hardware decoders in one batched nvJPEG call
(NVJPG engines on A100/H100; other GPUs decode on their cores). torchvision's image decoding is
deprecated since 0.29 in favour of TorchCodec's (0.16 on), which is used wherever it imports and
decodes on the device; torchvision's stays for installations without it. They differ in one way
that matters: TorchCodec turns the picture upright by its EXIF orientation, torchvision leaves it
as stored (`NvJpeg.upright` says which, and the pipeline turns only what is not upright yet).

A call holds a global lock and waits for its stream, so one thread calls it
(`core.decode.gpu_run` schedules around it).
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Sequence

import torch

from core.decode.jpeg_header import as_one_by_one_sampling

log = logging.getLogger(__name__)

TORCHCODEC = "torchcodec"
TORCHVISION = "torchvision"
BACKENDS = (TORCHCODEC, TORCHVISION)

Decode = Callable[[list[torch.Tensor], torch.device], list[torch.Tensor]]


@functools.cache
def installed_backend() -> str:
    """TorchCodec if it imports here (with the torch it was built for), else torchvision."""
    try:
        from torchcodec.decoders import decode_jpeg  # noqa: F401
    except Exception as exc:  # not installed, or built for another torch
        log.debug("TorchCodec cannot decode JPEGs here (%s): torchvision's decoder", exc)
        return TORCHVISION
    return TORCHCODEC


def _decoder(backend: str) -> tuple[Decode, bool]:
    """The backend's batched decode to RGB, and whether it turns pictures upright."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == TORCHCODEC:
        from torchcodec.decoders import decode_jpeg as codec_decode

        def codec(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
            return list(codec_decode(data, mode="RGB", device=device))

        return codec, True
    from torchvision.io import ImageReadMode, decode_jpeg

    def vision(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
        return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))

    return vision, False


class NvJpeg:
    """Batched decoding on one device: colour and greyscale JPEGs in one call, as RGB.

    `backend` is TorchCodec or torchvision (default: `installed_backend()`). Greyscale comes out
    as three equal channels, as Pillow's conversion gives (measured on the H100: no level
    differs, and one call for both is 9% faster than a call for each). A list nvJPEG refuses as
    a whole is retried file by file; a file it still refuses comes back as None (the pipeline
    sends it to Pillow).
    """

    def __init__(
        self,
        device: torch.device,
        count: Callable[[str], None] | None = None,
        backend: str | None = None,
    ) -> None:
        self.device = device
        self.backend = backend or installed_backend()
        self._decode, self.upright = _decoder(self.backend)
        self._count = count or (lambda route: None)

    def decode(self, data: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
        """3xHxW uint8 images on the device, None where nvJPEG refuses a file."""
        data = list(data)
        if not data:
            return []
        try:
            return list(self._decode(data, self.device))
        except RuntimeError as exc:
            log.debug("batched GPU decode failed (%s); one by one", exc)
            self._count("nvJPEG batch refused, retried file by file")
        out: list[torch.Tensor | None] = []
        for d in data:
            try:
                out.append(self._decode([d], self.device)[0])
            except RuntimeError as exc:
                log.info("the GPU cannot decode a file (%s); Pillow instead", exc)
                self._count("nvJPEG refused, then Pillow")
                out.append(None)
        return out


def gpu_decode_unavailable(device: torch.device, backend: str | None = None) -> str | None:
    """Why JPEGs cannot be decoded on `device`, or None when they can (tried once, cached)."""
    return _probe(torch.device(device), backend or installed_backend())


@functools.cache
def _probe(device: torch.device, backend: str) -> str | None:
    if device.type != "cuda" or not torch.cuda.is_available():
        return "not a CUDA device"
    try:
        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, "JPEG")
        data = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
        decode, _ = _decoder(backend)
        decode([data], device)
        return None
    except Exception as exc:  # no nvJPEG in this build, a driver problem...
        return f"{type(exc).__name__}: {exc}"


def greyscale_decoded_right(device: torch.device, backend: str | None = None) -> bool:
    """Whether nvJPEG decodes greyscale JPEGs on `device` as Pillow does, once their sampling
    is written as 1x1 (`as_one_by_one_sampling`). Tried once per device on small files stored
    with each sampling Pillow writes; where it fails, greyscale JPEGs take the Pillow path."""
    return _probe_grey(torch.device(device), backend or installed_backend())


@functools.cache
def _probe_grey(device: torch.device, backend: str) -> bool:
    import numpy as np
    from PIL import Image

    ramp = torch.arange(96 * 80, dtype=torch.int64).reshape(80, 96)
    pixels = ((ramp * 37) % 251).to(torch.uint8).numpy()
    decode, _ = _decoder(backend)
    for subsampling in (0, 1, 2):
        buf = io.BytesIO()
        Image.fromarray(pixels, "L").save(buf, "JPEG", quality=90, subsampling=subsampling)
        with Image.open(io.BytesIO(buf.getvalue())) as img:
            want = torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1)
        data = torch.frombuffer(
            as_one_by_one_sampling(bytearray(buf.getvalue())), dtype=torch.uint8
        )
        try:
            got = decode([data], device)[0].cpu()
        except RuntimeError:
            return False
        if got.shape != want.shape or (got.int() - want.int()).abs().float().mean() >= 1.0:
            log.info("greyscale JPEGs go to Pillow: nvJPEG decodes them wrong on %s", device)
            return False
    return True
