"""The GPU JPEG path (`core.decode.gpu_pipeline`) on a folder of thousands of photos, side by side
with today's Pillow path and the naive loop, its agreement with the Pillow path, and where its
time goes. Called by `python -m benchmarks.gpu`; on its own:

    python -m benchmarks.gpu_decode [--images 2000] [--quick] [--compile]

The folder is generated once (cached beside the other inputs): crops of the `skimage.data`
photos at sizes spread like a user's folder (log-normal, median 1.5 MP, 0.1 to 24 MP), enlarged
with sensor-like grain so they decode like camera files, re-encoded at quality 75-95 with
mixed chroma subsampling, some progressive, greyscale or EXIF-rotated, a few PNGs and CMYK
JPEGs (which take the Pillow fallback).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from benchmarks.data import cache_dir
from benchmarks.gpu_decode_levers import breakdown, graphs_and_compile, levers, single_24mp
from benchmarks.photo_folders import PhotoMix, folder_files, make_folder
from benchmarks.timing import log

FOLDER_VERSION = 1


# ---- the folder -------------------------------------------------------------------------------
def _megapixels(rng: np.random.Generator) -> float:
    """Log-normal around 1.5 MP, 0.1 to 24."""
    return float(np.clip(np.exp(rng.normal(np.log(1.5), 0.85)), 0.1, 24.0))


MIX = PhotoMix(
    megapixels=_megapixels,
    crop_min=0.5,
    side_min=48,
    aspects=(4 / 3, 3 / 2, 16 / 9, 1.0),
    portrait=0.3,
    resample=Image.Resampling.BICUBIC,
    png=0.015,
    cmyk=0.02,
    grey=0.05,
    quality=(75, 96),
    subsampling=(2, 2, 2, 1, 0),
    progressive=0.02,
    rotated=0.05,
)


def photo_folder(count: int = 2000) -> Path:
    """The benchmark folder of `count` photos, made once (on all cores)."""
    folder = cache_dir() / f"gpu_folder_{count}_v{FOLDER_VERSION}"
    make_folder(folder, count, MIX, 1000, _describe)
    return folder


def _describe(mps: list[float]) -> dict[str, Any]:
    return {
        "megapixels_median": round(float(np.median(mps)), 2),
        "megapixels_p10_p90": [round(float(np.percentile(mps, q)), 2) for q in (10, 90)],
        "megapixels_max": round(max(mps), 1),
    }


# ---- measurements -----------------------------------------------------------------------------
def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def throughput(
    checkpoint: Path,
    dev: str,
    files: list[Path],
    rounds: int,
    naive_count: int,
    only: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Images/s of each way through the folder, interleaved rounds, one warm-up each."""
    from benchmarks.pipelines import NaiveLoop, plain_model
    from benchmarks.timing import cudnn_benchmark
    from core import Classifier, GpuJpegDecoder, PillowDecoder, load_checkpoint

    def make(decoder: Any, precision: str = "fp32") -> Classifier:
        return Classifier(load_checkpoint(checkpoint), dev, decoder=decoder, precision=precision)

    pillow = make(PillowDecoder())
    gpu32 = make(GpuJpegDecoder())
    gpu16 = make(GpuJpegDecoder(), "fp16")
    pillow16 = make(PillowDecoder(), "fp16")
    naive = NaiveLoop(plain_model(checkpoint, dev), dev)
    subset = files[:naive_count]

    def run(c: Classifier, **kw: Any) -> Callable[[], None]:
        def f() -> None:
            with cudnn_benchmark(True):
                for _ in c.classify_many(files, top_k=5, **kw):
                    pass
            _sync()

        return f

    def gpu(c: Classifier, batch: int, gil_switch_s: float | None = None):
        def f() -> None:
            saved = sys.getswitchinterval()
            if gil_switch_s:
                sys.setswitchinterval(gil_switch_s)
            try:
                with cudnn_benchmark(True):
                    for _ in c.classify_many(files, top_k=5, batch_size=batch):
                        pass
                _sync()
            finally:
                sys.setswitchinterval(saved)

        return f

    def run_naive() -> None:
        for p in subset:
            naive(p)

    variants: dict[str, Callable[[], None]] = {
        "ours_today_pillow_fp32_batch8": run(pillow),
        "ours_today_pillow_fp16_batch32": run(pillow16, batch_size=32),
        "gpu_path_fp32_batch256 (default)": run(gpu32),
        "gpu_path_fp16_batch256": gpu(gpu16, 256),
        "gpu_path_fp32_batch128": gpu(make(GpuJpegDecoder(min_batch=128)), 128),
        "gpu_path_fp16_batch256_15_readers": gpu(make(GpuJpegDecoder(readers=15), "fp16"), 256),
        "gpu_path_fp16_batch256_gil_switch_0.5ms": gpu(gpu16, 256, 0.0005),
        "gpu_path_fp32_batch256_chunk128": run(make(GpuJpegDecoder(chunk=128))),
        "gpu_path_fp16_batch256_chunk128": gpu(make(GpuJpegDecoder(chunk=128), "fp16"), 256),
    }
    if only:
        variants = {k: v for k, v in variants.items() if k in only}
    log(f"throughput: {len(variants)} variants x {rounds} rounds on {len(files)} photos")
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():  # warm: page cache, cuDNN autotune per batch size
        fn()
    for _ in range(rounds):
        for k, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    ips = {k: round(len(files) / float(np.median(v)), 1) for k, v in times.items()}
    slowest_fastest = {
        k: [round(len(files) / max(v), 1), round(len(files) / min(v), 1)] for k, v in times.items()
    }
    log("throughput: naive loop on a subset")
    run_naive()
    start = time.perf_counter()
    run_naive()
    ips["naive_loop"] = round(len(subset) / (time.perf_counter() - start), 1)
    return {
        "images_per_s": ips,
        "images_per_s_slowest_fastest_round": slowest_fastest,
        "naive_loop_images": len(subset),
    }


def agreement(checkpoint: Path, dev: str, files: list[Path]) -> dict[str, Any]:
    """GPU path vs the fp32 Pillow path, image by image: top-1, the largest probability
    difference (any class), and the mean absolute difference of the network's input tensors."""
    from core import Classifier, GpuJpegDecoder, PillowDecoder, load_checkpoint

    decoder = GpuJpegDecoder(min_batch=128)
    clf = Classifier(load_checkpoint(checkpoint), dev, decoder=decoder)
    model = clf.model.module
    pre = clf.model.preprocess
    pipe = decoder.pipeline(pre, clf.device, 128)
    gpu_inputs: dict[str, torch.Tensor] = {}
    decoded_on_gpu = 0
    for batch in decoder.run(pipe, files, lambda: False):
        x = batch.input(clf.device)
        decoded_on_gpu += batch.gpu_decoded
        for name, row in zip(batch.names, batch.rows, strict=True):
            if row is not None and x is not None:
                gpu_inputs[name] = x[row].clone()
    pillow = PillowDecoder()
    with ThreadPoolExecutor(pillow.workers_for(clf.device)) as pool:
        prepared = list(pool.map(lambda f: pillow.prepare_one(f, pre), files))
    names = [p.path for p in prepared if p.tensor is not None and p.path in gpu_inputs]
    cpu_inputs = {p.path: p.tensor for p in prepared if p.tensor is not None}
    top1_same = top1_same_fp16 = 0
    max_prob_diff = max_prob_diff_fp16 = 0.0
    abs_diffs: list[float] = []
    worst: list[tuple[float, str]] = []
    headers = {str(p): _kind(p, pipe) for p in files}
    groups: dict[str, list[tuple[float, bool]]] = {}
    with torch.inference_mode():
        for i in range(0, len(names), 64):
            chunk = names[i : i + 64]
            g = torch.stack([gpu_inputs[n] for n in chunk])
            c = torch.stack([cpu_inputs[n] for n in chunk]).to(clf.device)
            abs_diffs += (g - c).abs().flatten(1).mean(1).tolist()
            g = g.contiguous(memory_format=torch.channels_last)
            c = c.contiguous(memory_format=torch.channels_last)
            pc = torch.softmax(model(c).float(), 1)
            pg = torch.softmax(model(g).float(), 1)
            with torch.autocast("cuda", dtype=torch.float16, enabled=clf.device.type == "cuda"):
                pg16 = torch.softmax(model(g).float(), 1)
            top1_same += int((pc.argmax(1) == pg.argmax(1)).sum())
            top1_same_fp16 += int((pc.argmax(1) == pg16.argmax(1)).sum())
            d = (pc - pg).abs().amax(1)
            max_prob_diff = max(max_prob_diff, float(d.max()))
            max_prob_diff_fp16 = max(max_prob_diff_fp16, float((pc - pg16).abs().max()))
            worst += list(zip(d.tolist(), chunk, strict=True))
            same = (pc.argmax(1) == pg.argmax(1)).tolist()
            diffs = abs_diffs[-len(chunk) :]
            for name, diff, ok in zip(chunk, diffs, same, strict=True):
                groups.setdefault(headers[name], []).append((diff, ok))
    n = len(names)
    worst.sort(reverse=True)
    return {
        "images_compared": n,
        "decoded_on_gpu": decoded_on_gpu,
        "pillow_fallback": len(files) - decoded_on_gpu,
        "top1_agreement_fp32": round(top1_same / max(1, n), 4),
        "top1_disagreements_fp32": n - top1_same,
        "largest_probability_difference_fp32": round(max_prob_diff, 4),
        "top1_agreement_fp16": round(top1_same_fp16 / max(1, n), 4),
        "largest_probability_difference_fp16": round(max_prob_diff_fp16, 4),
        "input_mean_abs_diff": round(float(np.mean(abs_diffs)), 5) if abs_diffs else None,
        "input_mean_abs_diff_max_image": round(float(max(abs_diffs)), 5) if abs_diffs else None,
        "worst_images": [(Path(p).name, headers[p], round(d, 4)) for d, p in worst[:8]],
        "routes": dict(pipe.routes),
        "by_kind": {
            k: {
                "images": len(v),
                "input_mean_abs_diff": round(float(np.mean([d for d, _ in v])), 5),
                "top1_same": sum(ok for _, ok in v),
            }
            for k, v in sorted(groups.items())
        },
    }


def _kind(path: Path, pipe: Any) -> str:
    """How a photo is stored, as far as decoding goes: route, sampling, draft, rotation."""
    from core import draft_factor, parse_jpeg_header

    with open(path, "rb") as f:
        header = parse_jpeg_header(f.read())
    if header is None:
        return "not JPEG (Pillow)"
    refusal = pipe.refusal(header)
    if refusal:
        return f"Pillow: {refusal}"
    k = draft_factor((header.width, header.height), pipe.pre)
    return (
        f"nvJPEG {header.subsampling}{header.sampling[0] if header.components == 1 else ''}"
        + (f" draft 1/{k}" if k > 1 else "")
        + (" rotated" if header.orientation != 1 else "")
    )


def run_all(
    checkpoint: Path,
    large: Path,
    dev: str,
    count: int,
    quick: bool,
    do_compile: bool,
    save: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    folder = photo_folder(count)
    files = folder_files(folder)
    res: dict[str, Any] = {"folder": json.loads((folder / "done.json").read_text())}
    sections: list[tuple[str, Callable[[], Any]]] = [
        ("single_24mp_ms", lambda: single_24mp(checkpoint, dev, large, 5 if quick else 15)),
        ("agreement", lambda: agreement(checkpoint, dev, files)),
        (
            "throughput",
            lambda: throughput(checkpoint, dev, files, 1 if quick else 3, 20 if quick else 150),
        ),
        ("breakdown_fp32_batch256", lambda: breakdown(checkpoint, dev, files, 256, False)),
        ("breakdown_fp16_batch256", lambda: breakdown(checkpoint, dev, files, 256, True)),
        ("decoder_levers", lambda: levers(checkpoint, dev, files)),
        ("network_levers", lambda: graphs_and_compile(checkpoint, dev, 128, do_compile)),
    ]
    for name, fn in sections:
        log(f"gpu decode: {name}")
        try:
            res[name] = fn()
        except Exception:  # keep what was measured; say what broke
            import traceback

            res[name + "_error"] = traceback.format_exc()
            log(res[name + "_error"])
        log(f"  {name}: {res.get(name)}")
        if save:
            save(res)
    return res


def markdown(res: dict[str, Any]) -> list[str]:
    f = res.get("folder", {})
    lines = [
        f"## Folder of {f.get('count')} photos: the GPU JPEG path (images/s)",
        "",
        f"Photos: median {f.get('megapixels_median')} MP (10-90%: {f.get('megapixels_p10_p90')}, "
        f"max {f.get('megapixels_max')}), {f.get('bytes_total', 0) / 1e6:.0f} MB, "
        f"{f.get('png')} PNG; read from the page cache (warm-up round first).",
        "",
    ]
    t = res.get("throughput", {}).get("images_per_s", {})
    if t:
        today = t.get("ours_today_pillow_fp32_batch8") or 1
        lines += ["| variant | images/s | vs today |", "|---|---|---|"]
        for k, v in t.items():
            lines.append(f"| {k} | {v} | {v / today:.2f}x |")
        lines.append("")
    for key, what in (("agreement", "default"), ("agreement_nvjpeg_only", "nvJPEG only")):
        a = res.get(key)
        if not a:
            continue
        lines += [
            f"Agreement ({what}) with the fp32 Pillow path (same checkpoint, every photo both "
            "paths read): "
            f"top-1 {a['top1_agreement_fp32'] * 100:.2f}% ({a['top1_disagreements_fp32']} of "
            f"{a['images_compared']} differ), largest probability difference "
            f"{a['largest_probability_difference_fp32']}, mean abs difference of the input "
            f"tensors {a['input_mean_abs_diff']} (worst photo {a['input_mean_abs_diff_max_image']}); "
            f"GPU path in fp16: top-1 {a['top1_agreement_fp16'] * 100:.2f}%, largest probability "
            f"difference {a['largest_probability_difference_fp16']}. "
            f"{a['decoded_on_gpu']} decoded by nvJPEG, {a['pillow_fallback']} by the Pillow fallback.",
            "",
        ]
    s = res.get("single_24mp_ms")
    if s:
        lines += [
            "24 MP JPEG, batch 1 (ms, median): " + ", ".join(f"{k} {v}" for k, v in s.items()),
            "",
        ]
    for key in ("breakdown_fp32_batch256", "breakdown_fp16_batch256"):
        b = res.get(key)
        if b:
            lines += [
                f"Where the time goes ({key}, seconds for the folder; each stage alone, "
                "synchronised, then together): "
                + ", ".join(f"{k} {v}" for k, v in b.items() if k != "images_per_s"),
                "",
            ]
    n = res.get("network_levers")
    if n:
        lines += ["Network levers: " + ", ".join(f"{k} {v}" for k, v in n.items()), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    from benchmarks.data import make_inputs
    from benchmarks.timing import machine

    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_decode")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--device", default="cuda")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument(
        "--throughput",
        metavar="VARIANT,...",
        help="only the folder throughput of these variants (today's path is always one)",
    )
    p.add_argument("--rounds", type=int, default=7, help="rounds for --throughput")
    args = p.parse_args(argv)
    inp = make_inputs(log)
    if args.throughput:
        args.out.mkdir(parents=True, exist_ok=True)
        only = ("ours_today_pillow_fp32_batch8", *args.throughput.split(","))
        files = folder_files(photo_folder(args.images))
        res = throughput(inp.checkpoint, args.device, files, args.rounds, 20, only)
        res = {"machine": machine(), "rounds": args.rounds, "command": sys.argv, **res}
        (args.out / "gpu_decode_throughput.json").write_text(json.dumps(res, indent=1) + "\n")
        print(json.dumps(res["images_per_s"], indent=1))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    head = {"machine": machine()}

    def save(res: dict[str, Any]) -> None:
        (args.out / "gpu_decode.json").write_text(json.dumps({**head, **res}, indent=1) + "\n")

    res = run_all(
        inp.checkpoint, inp.large, args.device, args.images, args.quick, args.compile, save
    )
    print("\n".join(markdown(res)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
