"""The decoders' levers on the benchmark folder, each alone: how nvJPEG's throughput grows with
the batch, whether its call lets other Python threads run, what greyscale JPEGs cost and whether
they decode right once their sampling is written as 1x1, and how many photos Pillow's threads
decode a second. Called by `benchmarks.gpu_decode.run_all`; numbers in `results/gpu_decode.md`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def levers(checkpoint: Path, dev: str, files: list[Path]) -> dict[str, Any]:
    from torchvision.io import ImageReadMode, decode_jpeg

    from core import PillowDecoder, as_one_by_one_sampling, load_checkpoint, parse_jpeg_header

    device = torch.device(dev)
    raw = {p: bytearray(p.read_bytes()) for p in files}
    heads = {p: parse_jpeg_header(b) for p, b in raw.items()}
    colour = [p for p, h in heads.items() if h and h.components == 3 and h.gpu_refusal() is None]
    grey = [p for p, h in heads.items() if h and h.components == 1 and h.gpu_refusal() is None]
    data = {p: torch.frombuffer(raw[p], dtype=torch.uint8) for p in colour}
    out: dict[str, Any] = {"colour_baseline_files": len(colour), "grey_baseline_files": len(grey)}
    mp = sum(heads[p].megapixels for p in colour)  # type: ignore[union-attr]
    out["colour_megapixels"] = round(mp, 1)

    def decode_all(paths: list[Path], bs: int, mode=ImageReadMode.RGB, src=None) -> float:
        src = src or data
        decode_jpeg([src[p] for p in paths[:bs]], mode=mode, device=device)  # warm
        _sync()
        start = time.perf_counter()
        for i in range(0, len(paths), bs):
            decode_jpeg([src[p] for p in paths[i : i + bs]], mode=mode, device=device)
        _sync()
        return time.perf_counter() - start

    sweep = {}
    for bs in (8, 32, 64, 128, 256, 512):
        sweep[f"batch{bs}"] = round(len(colour) / decode_all(colour, bs), 1)
    out["nvjpeg_colour_images_per_s_by_batch"] = sweep
    out["nvjpeg_colour_megapixels_per_s_batch256"] = round(mp / (len(colour) / sweep["batch256"]))

    # does the decode call let Python threads run? a counting thread, idle vs during decodes
    def count_for(fn: Callable[[], object]) -> tuple[float, float]:
        n = [0]
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                n[0] += 1

        t = threading.Thread(target=spin)
        t.start()
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        stop.set()
        t.join()
        return n[0] / took, took

    idle, _ = count_for(lambda: time.sleep(0.5))
    busy, _ = count_for(lambda: decode_all(colour, 128))
    out["python_thread_speed_during_decode_vs_idle"] = round(busy / idle, 3)

    # two Python threads calling the decoder at once (it holds one global lock)
    halves = [colour[0::2], colour[1::2]]
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda ps: decode_all(ps, 128), halves))
    out["nvjpeg_two_threads_images_per_s_batch128"] = round(
        len(colour) / (time.perf_counter() - start), 1
    )

    # greyscale: Y output, as stored and with the sampling written as 1x1, against libjpeg
    if grey:
        patched = {p: as_one_by_one_sampling(raw[p]) for p in grey}
        g_data = {p: torch.frombuffer(bytearray(b), dtype=torch.uint8) for p, b in patched.items()}
        orig = {p: torch.frombuffer(raw[p], dtype=torch.uint8) for p in grey}
        res: dict[str, Any] = {}
        for name, src in (("as_stored", orig), ("as_1x1", g_data)):
            diffs = []
            for mode_name, mode in (("gray", ImageReadMode.GRAY), ("rgb", ImageReadMode.RGB)):
                diffs = []
                for i in range(0, len(grey), 64):
                    chunk = grey[i : i + 64]
                    got = decode_jpeg([src[p] for p in chunk], mode=mode, device=device)
                    for p, g in zip(chunk, got, strict=True):
                        want = decode_jpeg(orig[p], mode=mode)
                        if g.shape != want.shape:
                            diffs.append(255.0)
                        else:
                            diffs.append(float((g.cpu().float() - want.float()).abs().mean()))
                res[f"{name}_{mode_name}_mean_abs_diff"] = round(sum(diffs) / len(diffs), 4)
                res[f"{name}_{mode_name}_files_over_1_level"] = sum(d > 1.0 for d in diffs)
            res[f"{name}_gray_images_per_s_batch64"] = round(
                len(grey) / decode_all(grey, 64, ImageReadMode.GRAY, src), 1
            )
        mixed = colour[: 4 * len(grey)] + grey
        mixed_src = {**data, **g_data}
        res["colour_plus_grey_1x1_in_one_rgb_call_images_per_s_batch256"] = round(
            len(mixed) / decode_all(mixed, 256, ImageReadMode.RGB, mixed_src), 1
        )
        res["the_same_colour_files_alone_images_per_s_batch256"] = round(
            len(colour[: 4 * len(grey)]) / decode_all(colour[: 4 * len(grey)], 256), 1
        )
        out["greyscale"] = res

    # Pillow's threads (draft, resize, normalise) on the files nvJPEG takes
    decoder, pre = PillowDecoder(), load_checkpoint(checkpoint).preprocess
    pillow: dict[str, float] = {}
    for threads in (1, 8, 15):
        subset = colour[:200] if threads == 1 else colour
        with ThreadPoolExecutor(threads) as pool:
            start = time.perf_counter()
            list(pool.map(lambda f: decoder.prepare_one(f, pre), subset))
            pillow[f"threads{threads}"] = round(len(subset) / (time.perf_counter() - start), 1)
    out["pillow_images_per_s_on_nvjpeg_files"] = pillow
    return out


def breakdown(checkpoint: Path, dev: str, files: list[Path], batch: int, fp16: bool):
    """Each stage alone (synchronised), then all together: reading and header parsing, the
    Pillow path for the files nvJPEG cannot take, nvJPEG, preprocessing, the network; end to
    end with other numbers of readers and nvJPEG call sizes."""
    from core import BatchAssembly, Classifier, GpuJpegDecoder, load_checkpoint

    decoder = GpuJpegDecoder()
    precision = "fp16" if fp16 else "fp32"
    clf = Classifier(load_checkpoint(checkpoint), dev, decoder=decoder, precision=precision)
    pipe = decoder.pipeline(clf.model.preprocess, clf.device, batch)
    out: dict[str, Any] = {"batch": batch, "precision": clf.precision, "readers": pipe.readers}
    with ThreadPoolExecutor(pipe.readers) as pool:
        list(pool.map(pipe.load, files))  # page cache warm
        start = time.perf_counter()
        loaded = list(pool.map(pipe.load, files))
        out["read_and_parse_s"] = time.perf_counter() - start
        refused = [r for r, why in loaded if why is not None]
        start = time.perf_counter()
        list(pool.map(lambda r: pipe.pillow(r, "refused"), refused))
        out["pillow_refused_files"] = len(refused)
        out["pillow_refused_wall_s"] = time.perf_counter() - start
    gpu = [r for r, why in loaded if why is None]
    chunks = [gpu[i : i + pipe.chunk] for i in range(0, len(gpu), pipe.chunk)]
    pipe.decode(chunks[0])
    out["nvjpeg_files"] = len(gpu)
    out["nvjpeg_decode_s"] = out["preprocess_s"] = out["network_s"] = 0.0
    for ch in chunks:  # each chunk's pictures freed before the next, as in the pipeline
        _sync()
        start = time.perf_counter()
        imgs = pipe.decode(ch)
        _sync()
        decoded = time.perf_counter()
        asm = BatchAssembly(pipe.pre, pipe.device, len(ch))
        for i, (r, img) in enumerate(zip(ch, imgs, strict=True)):
            pipe.place(asm, i, r, img)
        x = asm.finish().tensor
        _sync()
        prepared = time.perf_counter()
        clf.predict(x)  # the autotuner's first sight of this shape is not timed
        _sync()
        again = time.perf_counter()
        clf.predict(x)
        _sync()
        out["nvjpeg_decode_s"] += decoded - start
        out["preprocess_s"] += prepared - decoded
        out["network_s"] += time.perf_counter() - again
    settings = [(8, 256), (15, 256), (4, 256), (8, 128)]
    out["end_to_end"] = {}
    for readers, chunk in settings:
        other = GpuJpegDecoder(readers=readers, chunk=chunk, min_batch=batch)
        for _ in range(2):  # the second run is timed
            p = other.pipeline(clf.model.preprocess, clf.device, batch)
            start = time.perf_counter()
            for b in other.run(p, files, lambda: False):
                clf.predict(b.input(clf.device))
            took = time.perf_counter() - start
        out["end_to_end"][f"readers{readers}_chunk{chunk}_share"] = {
            "images_per_s": round(len(files) / took, 1),
            "stolen_by_pillow": p.routes["Pillow: nvJPEG busy"],
        }
    engine = Classifier(
        load_checkpoint(checkpoint),
        dev,
        decoder=GpuJpegDecoder(min_batch=batch),
        precision=precision,
    )
    for _ in range(2):  # the engine's way, default settings: the second run is timed
        start = time.perf_counter()
        list(engine.classify_many(files, batch_size=batch))
        out["end_to_end_s"] = time.perf_counter() - start
    parts = ("read_and_parse_s", "pillow_refused_wall_s", "nvjpeg_decode_s", "preprocess_s")
    out["sum_of_stages_s"] = sum(out[k] for k in parts) + out["network_s"]
    out["hidden_by_overlap_s"] = out["sum_of_stages_s"] - out["end_to_end_s"]
    out["end_to_end_images_per_s"] = round(len(files) / out["end_to_end_s"], 1)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def single_24mp(checkpoint: Path, dev: str, large: Path, rounds: int) -> dict[str, Any]:
    """Batch 1 on the 24 MP JPEG: today's path and the GPU path, and the GPU path's stages."""
    from benchmarks.pipelines import NaiveLoop, plain_model
    from core import (
        Classifier,
        GpuJpegDecoder,
        PillowDecoder,
        load_checkpoint,
        normalise_into,
        resize_crop_into,
    )

    pillow = Classifier(load_checkpoint(checkpoint), dev, decoder=PillowDecoder())
    decoder = GpuJpegDecoder(min_batch=1, readers=1)
    gpu = Classifier(load_checkpoint(checkpoint), dev, decoder=decoder)
    pipe = decoder.pipeline(gpu.model.preprocess, gpu.device, 1)
    naive = NaiveLoop(plain_model(checkpoint, dev), dev)
    naive(large)
    naive_s = []
    for _ in range(3):
        start = time.perf_counter()
        naive(large)
        naive_s.append(time.perf_counter() - start)
    stages: dict[str, list[float]] = {
        k: [] for k in ("read", "decode", "preprocess", "network", "total_gpu", "total_pillow")
    }
    for i in range(rounds + 2):
        t0 = time.perf_counter()
        r, _ = pipe.load(large)
        t1 = time.perf_counter()
        (img,) = pipe.decode([r])
        _sync()
        t2 = time.perf_counter()
        levels = torch.empty((1, 3, 224, 224), device=gpu.device)
        resize_crop_into(img, pipe.pre, levels[0], r.header.orientation)
        x = normalise_into(levels, pipe.pre)
        _sync()
        t3 = time.perf_counter()
        gpu.predict(x)
        t4 = time.perf_counter()
        gpu.classify(large)
        t5 = time.perf_counter()
        pillow.classify(large)
        t6 = time.perf_counter()
        if i >= 2:
            for k, v in zip(
                stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True
            ):
                stages[k].append(v)
    stages["total_naive_loop"] = naive_s
    return {k: round(float(np.median(v)) * 1000, 2) for k, v in stages.items()}


def graphs_and_compile(checkpoint: Path, dev: str, batch: int, do_compile: bool) -> dict:
    """The network alone at a folder batch in fp16: eager, a CUDA graph, torch.compile (its
    compile time counted)."""
    from core import load_checkpoint

    model = load_checkpoint(checkpoint).module.to(dev, memory_format=torch.channels_last).eval()
    x = torch.randn(batch, 3, 224, 224, device=dev).contiguous(memory_format=torch.channels_last)
    out: dict[str, Any] = {"batch": batch}

    def rate(fn: Callable[[], object], n: int = 20) -> float:
        for _ in range(3):
            fn()
        _sync()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        _sync()
        return round(batch * n / (time.perf_counter() - start), 1)

    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
        out["eager_fp16_images_per_s"] = rate(lambda: model(x))
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                model(x)
        torch.cuda.current_stream().wait_stream(s)
        start = time.perf_counter()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            model(x)
        out["cuda_graph_capture_s"] = round(time.perf_counter() - start, 2)
        out["cuda_graph_fp16_images_per_s"] = rate(g.replay)
        if do_compile:
            try:
                compiled = torch.compile(model)
                start = time.perf_counter()
                compiled(x)
                _sync()
                out["compile_s"] = round(time.perf_counter() - start, 1)
                out["compiled_fp16_images_per_s"] = rate(lambda: compiled(x))
            except Exception as exc:  # a lever: report it and go on
                out["compile_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out
