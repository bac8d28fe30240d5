"""Which decoder takes a photo on the GPU path: nvJPEG, or Pillow on the CPU's cores.

Each decoder costs differently per file. nvJPEG decodes every pixel, so its cost follows the full
size; Pillow decodes a large JPEG at 1/2 to 1/8 scale (`draft`), so a 12 MP photo costs it little
more than its entropy decoding and a 1 MP picture, while a small photo costs it far more than
nvJPEG. So every JPEG nvJPEG can take is queued for it, and whenever Pillow has a lane free it
takes back, from the end of that queue, the photo it gains most on (the lowest ratio of its
work to nvJPEG's) if it would have it done before nvJPEG reaches it. Both decoders then run at
once, each on the files it is best at, and finish together.

Work is counted in megapixels from the header (plus a fixed share per file); the seconds each
decoder takes per unit are measured as the run goes (a moving average of its recent calls and
files), starting from a guess the first measurements replace: nothing depends on one machine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from core.decode.gpu_decode import draft_factor
from core.decode.jpeg_header import JpegHeader
from core.decode.preprocess import Preprocess

NVJPEG = "nvJPEG"
PILLOW = "Pillow"

# A file's fixed cost, in megapixels of the decoder's own work: nvJPEG's per-file share of a
# batched call; Pillow's opening, resizing, cropping and normalising, and handing the rows over.
NVJPEG_FILE_MEGAPIXELS = 0.05
PILLOW_FILE_MEGAPIXELS = 0.3
# Pillow's entropy decoding reads every coefficient whatever the scale: a share of the full size.
PILLOW_ENTROPY_SHARE = 0.15

# First guesses, replaced by measurements: seconds per megapixel of work.
NVJPEG_GUESS = 1 / 3000
PILLOW_GUESS = 1 / 60

# How much each new measurement moves the average.
_WEIGHT = 0.3


def nvjpeg_work(header: JpegHeader) -> float:
    """nvJPEG's work for a file: every pixel, at full size."""
    return header.megapixels + NVJPEG_FILE_MEGAPIXELS


def pillow_work(header: JpegHeader, pre: Preprocess) -> float:
    """Pillow's work for a file: the pixels it decodes after `draft`, and for a progressive file
    the coefficients of every scan, which it reads at full size whatever the scale."""
    k = draft_factor((header.width, header.height), pre)
    work = header.megapixels * (PILLOW_ENTROPY_SHARE + 1 / (k * k)) + PILLOW_FILE_MEGAPIXELS
    if header.progressive:
        work += header.megapixels / 4
    return work


def decode_bytes(header: JpegHeader, pre: Preprocess) -> int:
    """About the most memory Pillow holds decoding this JPEG (`core.decode.budget.decode_cost`
    from our own header): the picture after `draft` and a turned copy, and for a progressive
    file every coefficient at full size."""
    k = draft_factor((header.width, header.height), pre)
    pixels = (header.width // k + 1) * (header.height // k + 1)
    cost = pixels * (8 if header.orientation != 1 else 4)
    if header.progressive:
        samples = sum(h * v for h, v in header.sampling) or header.components
        h_max = max((h for h, _ in header.sampling), default=1)
        v_max = max((v for _, v in header.sampling), default=1)
        cost += int(header.width * header.height * 2 * samples / (h_max * v_max))
    return cost


@dataclass
class Rate:
    """Seconds per unit of work, measured: a moving average of what the decoder took."""

    seconds_per_unit: float
    measured: int = 0

    def update(self, seconds: float, units: float) -> None:
        if units <= 0 or seconds <= 0:
            return
        s = seconds / units
        if self.measured == 0:
            self.seconds_per_unit = s
        else:
            self.seconds_per_unit += _WEIGHT * (s - self.seconds_per_unit)
        self.measured += 1


@dataclass(frozen=True)
class Ticket:
    """Where one file goes, and the work it was counted as (returned with `Router.done`)."""

    decoder: str
    work: float


class Router:
    """The two decoders' measured rates and queued work (thread-safe).

    `pillow_lanes` Pillow decodes run at once (processes or threads); nvJPEG takes one call at
    a time. A ticket counts a file's work on its side until `done` says it is decoded.
    """

    def __init__(
        self,
        pre: Preprocess,
        pillow_lanes: int,
        nvjpeg_guess: float = NVJPEG_GUESS,
        pillow_guess: float = PILLOW_GUESS,
    ) -> None:
        self.pre = pre
        self.lanes = max(1, pillow_lanes)
        self.rates = {NVJPEG: Rate(nvjpeg_guess), PILLOW: Rate(pillow_guess)}
        self.queued = {NVJPEG: 0.0, PILLOW: 0.0}
        self._lock = threading.Lock()

    def ticket(self, decoder: str, header: JpegHeader | None) -> Ticket:
        """Count a file's work on `decoder`'s side (a guess for a file without a header)."""
        if header is None:
            work = 1.0 + PILLOW_FILE_MEGAPIXELS
        else:
            work = nvjpeg_work(header) if decoder == NVJPEG else pillow_work(header, self.pre)
        with self._lock:
            self.queued[decoder] += work
        return Ticket(decoder, work)

    def pillow_over_nvjpeg(self, header: JpegHeader | None) -> float:
        """How Pillow's work for a file compares with nvJPEG's (lower: better sent to Pillow)."""
        if header is None:
            return float("inf")
        return pillow_work(header, self.pre) / nvjpeg_work(header)

    def pillow_first(self, header: JpegHeader, nvjpeg_ahead: float) -> bool:
        """Whether Pillow would have this file done before nvJPEG, which has `nvjpeg_ahead`
        units of work to do before it (and the file's own)."""
        with self._lock:
            pil = self.queued[PILLOW] + pillow_work(header, self.pre)
            t_pillow = pil * self.rates[PILLOW].seconds_per_unit / self.lanes
            t_nvjpeg = (nvjpeg_ahead + nvjpeg_work(header)) * self.rates[NVJPEG].seconds_per_unit
        return t_pillow < t_nvjpeg

    def move(self, ticket: Ticket, header: JpegHeader | None) -> Ticket:
        """A file taken back from one side before it was decoded, counted on the other."""
        with self._lock:
            self.queued[ticket.decoder] = max(0.0, self.queued[ticket.decoder] - ticket.work)
        return self.ticket(PILLOW if ticket.decoder == NVJPEG else NVJPEG, header)

    def done(self, tickets: list[Ticket], seconds: float) -> None:
        """Files decoded together in `seconds` (a Pillow file's own time; an nvJPEG call's)."""
        if not tickets:
            return
        decoder = tickets[0].decoder
        work = sum(t.work for t in tickets)
        with self._lock:
            self.queued[decoder] = max(0.0, self.queued[decoder] - work)
            self.rates[decoder].update(seconds, work)
