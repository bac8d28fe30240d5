"""The CUDA suite: batch-1 latency and folder throughput on a GPU, against the same baselines
as on the CPU (naive loop, model alone), the CUDA levers, and where a folder's time goes.

    python -m benchmarks.gpu [--out DIR] [--quick]

`--device cpu --quick` runs the same code paths that need no GPU, to try the script anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.data import Inputs, make_inputs
from benchmarks.pipelines import ModelAlone, NaiveLoop, plain_model
from benchmarks.timing import cudnn_benchmark, interleaved, log, machine, summary
from core import Classifier, GpuJpegDecoder, PillowDecoder, load_checkpoint


def with_benchmark(on: bool, fn: Callable[[], object]) -> Callable[[], object]:
    """A baseline runs as a user would have it (autotuner off); ours as the engine sets it."""

    def f() -> object:
        with cudnn_benchmark(on):
            out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return out

    return f


def timed_run(clf: Classifier, files: list[Path]) -> dict[str, float]:
    """`classify_many`'s loop written out with the public API, its main thread's time split:
    waiting for the decoder's next batch, the network (copy and sync included), the results."""
    pre, device = clf.model.preprocess, clf.device
    waiting = network = results = 0.0
    batches = iter(clf.decoder.batches(files, pre, device, 8, lambda: False))
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        batch = next(batches, None)
        t1 = time.perf_counter()
        waiting += t1 - t0
        if batch is None:
            break
        x = batch.input(device)
        if x is not None:
            clf.predict(x)
        t2 = time.perf_counter()
        network += t2 - t1
        clf.classify_batch(batch)  # the network again, for the records: counted apart
        results += time.perf_counter() - t2
    return {
        "total_s": time.perf_counter() - start - results,
        "waiting": waiting,
        "network": network,
    }


def latency(inp: Inputs, dev: str, rounds: int) -> dict[str, Any]:
    cuda = dev.startswith("cuda")
    plain = plain_model(inp.checkpoint, dev)
    naive = NaiveLoop(plain, dev)
    clf = Classifier(load_checkpoint(inp.checkpoint), dev, decoder=PillowDecoder())
    fast = Classifier(
        load_checkpoint(inp.checkpoint),
        dev,
        precision="fp16" if cuda else "bf16",
        decoder=PillowDecoder(),
    )
    ready = torch.randn(1, 3, 224, 224)
    on_dev = ready.to(dev).contiguous(memory_format=torch.channels_last)
    v: dict[str, Callable[[], object]] = {
        "model_alone": with_benchmark(False, ModelAlone(plain, dev)),
        "ours_network_only": with_benchmark(True, lambda: clf.model.module(on_dev).cpu()),
        "ours_predict_from_cpu_tensor": with_benchmark(True, lambda: clf.predict(ready)),
        "naive_small": with_benchmark(False, lambda: naive(inp.small)),
        "ours_small": with_benchmark(True, lambda: clf.classify(inp.small)),
        "ours_small_fast": with_benchmark(True, lambda: fast.classify(inp.small)),
        "naive_24mp": with_benchmark(False, lambda: naive(inp.large)),
        "ours_24mp": with_benchmark(True, lambda: clf.classify(inp.large)),
    }
    if cuda and GpuJpegDecoder().uses_gpu(clf.device):
        gclf = Classifier(load_checkpoint(inp.checkpoint), dev, decoder=GpuJpegDecoder())
        v["gpu_path_small"] = with_benchmark(True, lambda: gclf.classify(inp.small))
        v["gpu_path_24mp"] = with_benchmark(True, lambda: gclf.classify(inp.large))
    log(f"latency: {len(v)} variants x {rounds}")
    with torch.inference_mode():
        t = interleaved(v, rounds, warmup=2)
    s = {k: summary(x) for k, x in t.items()}
    m = s["model_alone"]["median"]
    return {
        "ms": s,
        "ratios_to_model_alone": {k: round(x["median"] / m, 2) for k, x in s.items()},
        "speedup_vs_naive": {
            "small": round(s["naive_small"]["median"] / s["ours_small"]["median"], 2),
            "24mp": round(s["naive_24mp"]["median"] / s["ours_24mp"]["median"], 2),
        },
    }


def model_throughput(inp: Inputs, dev: str, rounds: int, quick: bool = False) -> dict[str, Any]:
    """Images/s of the network alone on ready batches on the device: the ceiling."""
    plain = plain_model(inp.checkpoint, dev)
    clf = Classifier(load_checkpoint(inp.checkpoint), dev, decoder=PillowDecoder())
    amp = torch.float16 if dev.startswith("cuda") else torch.bfloat16
    out = {}
    for bs in (8,) if quick else (8, 32, 128):
        x = torch.randn(bs, 3, 224, 224, device=dev)
        xc = x.contiguous(memory_format=torch.channels_last)

        def fp16(xc: torch.Tensor = xc) -> None:
            with torch.autocast(dev.split(":")[0], dtype=amp):
                clf.model.module(xc).float().cpu()

        v = {
            "plain_fp32": with_benchmark(False, lambda x=x: plain(x).cpu()),
            "ours_fp32": with_benchmark(True, lambda xc=xc: clf.model.module(xc).cpu()),
            "ours_fp16": with_benchmark(True, fp16),
        }
        with torch.inference_mode():
            t = interleaved(v, rounds, warmup=2)
        out[f"batch{bs}"] = {k: round(bs / float(np.median(s)), 1) for k, s in t.items()}
    return {"images_per_s": out}


def folder(inp: Inputs, dev: str, rounds: int, files: list[Path]) -> dict[str, Any]:
    cuda = dev.startswith("cuda")
    plain = plain_model(inp.checkpoint, dev)
    naive = NaiveLoop(plain, dev)
    pillow = PillowDecoder()
    clf = Classifier(load_checkpoint(inp.checkpoint), dev, decoder=pillow)
    fast = Classifier(
        load_checkpoint(inp.checkpoint),
        dev,
        precision="fp16" if cuda else "bf16",
        decoder=PillowDecoder(),
    )
    first = Classifier(
        load_checkpoint(inp.checkpoint),
        dev,
        decoder=PillowDecoder(workers=min(8, os.cpu_count() or 2), prefetch=16),
    )
    cores = os.cpu_count() or 2
    default_workers = pillow.workers_for(clf.device)
    pre = clf.model.preprocess
    results: dict[str, dict[str, int]] = {}

    def ours(c: Classifier, key: str, **kw: Any) -> Callable[[], None]:
        def f() -> None:
            results[key] = {r.path: r.top.index for r in c.classify_many(files, **kw)}

        return f

    def run_naive() -> None:
        results["naive"] = {str(p): naive(p)[0][0] for p in files}

    v: dict[str, Callable[[], object]] = {
        "naive": with_benchmark(False, run_naive),
        "ours_default": with_benchmark(True, ours(clf, "ours_default")),
        "ours_batch32": with_benchmark(True, ours(clf, "ours_batch32", batch_size=32)),
        "ours_first_run_settings": with_benchmark(True, ours(first, "ours_first")),
        "ours_fast_batch32": with_benchmark(True, ours(fast, "ours_fast", batch_size=32)),
    }
    if cuda:
        v["ours_default_cudnn_benchmark_off"] = with_benchmark(False, ours(clf, "bench_off"))
    if cuda and GpuJpegDecoder().uses_gpu(clf.device):
        gclf = Classifier(load_checkpoint(inp.checkpoint), dev, decoder=GpuJpegDecoder())
        v["gpu_path_batch256"] = with_benchmark(True, ours(gclf, "gpu_path"))
    log(f"folder: {len(files)} photos, {len(v)} variants x {rounds}")
    t = interleaved(v, rounds, warmup=1)
    ips = {k: round(len(files) / float(np.median(s)), 1) for k, s in t.items()}
    ref = results["naive"]
    agree = {k: sum(ref[p] == r[p] for p in ref) for k, r in results.items() if k != "naive"}
    # where the time goes: decoding alone with the same pool, the network alone on ready batches
    log("folder: decode alone, network alone")
    with ThreadPoolExecutor(default_workers) as pool:
        start = time.perf_counter()
        prepared = list(pool.map(lambda f: pillow.prepare_one(f, pre), files))
        decode_s = time.perf_counter() - start
    with ThreadPoolExecutor(max(1, cores - 1)) as pool:
        start = time.perf_counter()
        list(pool.map(lambda f: pillow.prepare_one(f, pre), files))
        decode_all_s = time.perf_counter() - start
    with ThreadPoolExecutor(1) as pool:
        start = time.perf_counter()
        list(pool.map(lambda f: pillow.prepare_one(f, pre), files))
        decode_one_s = time.perf_counter() - start
    tensors = [p.tensor for p in prepared if p.tensor is not None]
    with cudnn_benchmark(True):
        start = time.perf_counter()
        for i in range(0, len(tensors), 8):
            clf.predict(pillow.stack(tensors[i : i + 8], clf.device))
        net_s = time.perf_counter() - start
    per_image_decode = [p.seconds for p in prepared]
    with cudnn_benchmark(True):
        timed_run(clf, files)  # warm
        split = timed_run(clf, files)
    main_thread = {
        "total_s": round(split["total_s"], 3),
        "waiting_for_decoded_images_s": round(split["waiting"], 3),
        "network_incl_copy_and_sync_s": round(split["network"], 3),
    }
    return {
        "images": len(files),
        "default_decode_workers": default_workers,
        "images_per_s": ips,
        "speedup_default_vs_naive": round(ips["ours_default"] / ips["naive"], 2),
        "same_top1_as_naive": agree,
        "where_the_time_goes": {
            "decode_only_images_per_s_default_workers": round(len(files) / decode_s, 1),
            "decode_only_images_per_s_all_cores": round(len(files) / decode_all_s, 1),
            "decode_only_images_per_s_one_thread": round(len(files) / decode_one_s, 1),
            "network_only_batch8_from_cpu_tensors_images_per_s": round(len(tensors) / net_s, 1),
            "decode_ms_per_image_median": round(float(np.median(per_image_decode)) * 1000, 1),
            "decode_ms_per_image_max": round(float(max(per_image_decode)) * 1000, 1),
            "main_thread_default_settings": main_thread,
        },
    }


def markdown(res: dict[str, Any], command: str) -> str:
    m = res["machine"]
    lat, fol, thr = res["latency"], res["folder"], res["model_throughput"]
    ms = lat["ms"]
    lines = [
        "# GPU benchmark results",
        "",
        f"Command: `{command}`  ",
        f"Machine: {m.get('gpu', 'no GPU')}, {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
        f"torch {m['torch']}, torchvision {m['torchvision']}, CUDA {m.get('cuda')}, cuDNN "
        f"{m.get('cudnn')}, Pillow {m['pillow']}  ",
        f"Run at {res['started']}, took {res['seconds']:.0f} s. Medians of interleaved rounds.",
        "",
        "## Batch-1 latency (ms)",
        "",
        "| | naive loop | ours fp32 | ours fp16 (opt-in) | model alone (plain) | ours / model alone |",
        "|---|---|---|---|---|---|",
        f"| small photo | {ms['naive_small']['median']} | {ms['ours_small']['median']} | "
        f"{ms['ours_small_fast']['median']} | {ms['model_alone']['median']} | "
        f"{lat['ratios_to_model_alone']['ours_small']}x |",
        f"| 24 MP JPEG | {ms['naive_24mp']['median']} | {ms['ours_24mp']['median']} | | "
        f"{ms['model_alone']['median']} | {lat['ratios_to_model_alone']['ours_24mp']}x |",
        "",
        "All variants (ms): " + ", ".join(f"{k} {v['median']}" for k, v in ms.items()),
        "",
        f"## Folder of {fol['images']} mixed photos (images/s)",
        "",
        "| variant | images/s | same top-1 as naive |",
        "|---|---|---|",
    ]
    keys = {
        "ours_default": "ours_default",
        "ours_batch32": "ours_batch32",
        "ours_first_run_settings": "ours_first",
        "ours_fast_batch32": "ours_fast",
        "ours_default_unpinned": "unpinned",
        "ours_default_cudnn_benchmark_off": "bench_off",
        "gpu_path_batch256": "gpu_path",
    }
    for k, v in fol["images_per_s"].items():
        same = fol["same_top1_as_naive"].get(keys.get(k, ""), "")
        lines.append(f"| {k} | {v} | {same if k != 'naive' else '(reference)'} |")
    w = fol["where_the_time_goes"]
    lines += [
        "",
        f"Speed-up of the default path over the naive loop: {fol['speedup_default_vs_naive']}x "
        f"(decode workers: {fol['default_decode_workers']}).",
        "",
        "Where the time goes: " + ", ".join(f"{k} {v}" for k, v in w.items()),
        "",
        "## Network alone on ready batches on the GPU (images/s)",
        "",
        "| batch | plain fp32 | ours fp32 (channels-last, cuDNN autotune) | ours fp16 |",
        "|---|---|---|---|",
    ]
    for b, r in thr["images_per_s"].items():
        lines.append(f"| {b} | {r['plain_fp32']} | {r['ours_fp32']} | {r['ours_fp16']} |")
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    ms = res["latency"]["ms"]
    ips = res["folder"]["images_per_s"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    names = ["naive_small", "ours_small", "naive_24mp", "ours_24mp", "model_alone"]
    a.bar(names, [ms[k]["median"] for k in names], color=["C0", "C1", "C0", "C1", "C2"])
    a.set_ylabel("ms (batch 1)")
    a.set_title("Latency on CUDA")
    a.tick_params(axis="x", rotation=30)
    b.barh(list(ips), list(ips.values()), color="C1")
    b.set_xlabel("images / s")
    b.set_title(f"Folder of {res['folder']['images']} photos on CUDA")
    fig.suptitle(res["machine"].get("gpu", "CPU"), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--images", type=int, default=2000, help="photos in the GPU-decode folder")
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument(
        "--only-gpu-decode", action="store_true", help="only the GPU JPEG path's section"
    )
    args = p.parse_args(argv)
    dev = args.device
    start = time.perf_counter()
    res: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    inp = make_inputs(log)
    res["inputs"] = inp.describe()
    files = inp.folder_files()
    if args.quick:
        files = files[::10]
    q = args.quick
    args.out.mkdir(parents=True, exist_ok=True)
    sections: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("latency", lambda: latency(inp, dev, 3 if q else 20)),
        ("model_throughput", lambda: model_throughput(inp, dev, 2 if q else 10, q)),
        ("folder", lambda: folder(inp, dev, 1 if q else 3, files)),
    ]
    if args.only_gpu_decode:
        sections = []
    if dev.startswith("cuda"):
        from benchmarks import gpu_decode

        def save(part: dict[str, Any]) -> None:
            res["gpu_decode"] = part
            (args.out / "gpu.json").write_text(json.dumps(res, indent=1) + "\n")

        sections.append(
            (
                "gpu_decode",
                lambda: gpu_decode.run_all(
                    inp.checkpoint, inp.large, dev, args.images, q, args.compile, save
                ),
            )
        )
    failed = False
    for name, fn in sections:
        try:
            res[name] = fn()
        except Exception:  # keep what was measured; say what broke
            import traceback

            res[name + "_error"] = traceback.format_exc()
            log(res[name + "_error"])
            failed = True
        res["seconds"] = round(time.perf_counter() - start, 1)
        (args.out / "gpu.json").write_text(json.dumps(res, indent=1) + "\n")
    command = "python -m benchmarks.gpu " + " ".join(argv if argv is not None else sys.argv[1:])
    if failed:
        return 1
    md = markdown(res, command.strip()) if "latency" in res else f"Command: `{command.strip()}`\n"
    if "gpu_decode" in res:
        from benchmarks import gpu_decode

        md += "\n" + "\n".join(gpu_decode.markdown(res["gpu_decode"]))
    (args.out / "gpu.md").write_text(md)
    if "latency" in res:
        plot(res, args.out / "gpu.png")
    log(f"wrote {args.out}/gpu.json, gpu.md, gpu.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
