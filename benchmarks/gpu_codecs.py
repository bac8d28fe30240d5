"""`python -m benchmarks.gpu_codecs FOLDER [--wheels DIR]`: which GPU JPEG decoder to build on.

torchvision warns that its image decoding is deprecated in favour of TorchCodec. This decodes
the same baseline JPEGs of a folder on the GPU with each decoder that imports here, in calls
of 128 files, side by side (rounds interleaved): `torchvision.io.decode_jpeg`, TorchCodec's
`decoders.decode_jpeg` and nvImageCodec's `Decoder.decode`. Reports whether each imports (and
why not), images/s and MP/s, and the largest and mean pixel difference from torchvision's
output. Wheels that cannot be installed on the machine can be unpacked into `--wheels DIR`
(`pip install --no-deps --target DIR WHEEL`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_codecs", description=__doc__)
    p.add_argument("folder", type=Path)
    p.add_argument("--wheels", type=Path, help="a folder of unpacked wheels to import from")
    p.add_argument("--files", type=int, default=1024)
    p.add_argument("--chunk", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS / "gpu_codecs.json")
    args = p.parse_args(argv)
    if args.wheels:
        sys.path.insert(0, str(args.wheels))

    import torch
    import torchvision
    from torchvision.io import decode_jpeg, read_file

    from benchmarks.timing import interleaved, machine
    from core import parse_jpeg_header

    files = []
    for path in sorted(args.folder.glob("*.jpg")):
        data = read_file(str(path))
        header = parse_jpeg_header(data.numpy())
        if header is not None and not header.progressive and header.components == 3:
            files.append(data)
        if len(files) == args.files:
            break
    pixels = 0.0
    res: dict[str, Any] = {"machine": machine(), "files": len(files), "backends": {}}
    chunks = [files[i : i + args.chunk] for i in range(0, len(files), args.chunk)]

    def tv() -> list[torch.Tensor]:
        out: list[torch.Tensor] = []
        for c in chunks:
            out += decode_jpeg(c, device="cuda")
        torch.cuda.synchronize()
        return out

    backends: dict[str, Any] = {f"torchvision {torchvision.__version__}": tv}
    try:
        import torchcodec
        from torchcodec.decoders import decode_jpeg as tc_decode

        def tc() -> list[torch.Tensor]:
            out: list[torch.Tensor] = []
            for c in chunks:
                out += tc_decode(c, device="cuda")
            torch.cuda.synchronize()
            return out

        backends[f"torchcodec {torchcodec.__version__}"] = tc
    except Exception as exc:  # what a user of this machine would meet
        res["backends"]["torchcodec"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    try:
        from nvidia import nvimgcodec

        decoder = nvimgcodec.Decoder()

        def nv() -> list[torch.Tensor]:
            out: list[torch.Tensor] = []
            for c in chunks:
                images = decoder.decode([bytes(t.numpy()) for t in c])
                out += [torch.as_tensor(im, device="cuda").permute(2, 0, 1) for im in images]
            torch.cuda.synchronize()
            return out

        backends[f"nvimgcodec {getattr(nvimgcodec, '__version__', '?')}"] = nv
    except Exception as exc:
        res["backends"]["nvimgcodec"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}

    working: dict[str, Any] = {}
    reference = None
    for name, fn in backends.items():
        try:
            out = fn()
        except Exception as exc:
            res["backends"][name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        working[name] = fn
        if reference is None:
            reference = out
            pixels = sum(t.shape[-1] * t.shape[-2] for t in out) / 1e6
            res["megapixels"] = round(pixels, 1)
            res["backends"][name] = {}
            continue
        same_shape = all(a.shape == b.shape for a, b in zip(reference, out, strict=True))
        diffs = [
            (a.int() - b.int()).abs() for a, b in zip(reference, out, strict=True) if same_shape
        ]
        res["backends"][name] = {
            "same_shapes": same_shape,
            "max_pixel_diff": int(max(int(d.max()) for d in diffs)) if diffs else None,
            "mean_pixel_diff": round(
                float(statistics.mean(float(d.float().mean()) for d in diffs)), 4
            )
            if diffs
            else None,
        }
    times = interleaved(working, args.rounds)
    for name, seconds in times.items():
        s = statistics.median(seconds)
        res["backends"][name].update(
            {"images_per_s": round(len(files) / s, 1), "megapixels_per_s": round(pixels / s, 0)}
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res["backends"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
