"""The CPU suite: every figure side by side with its baseline, in one run."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.data import Inputs
from benchmarks.pipelines import ModelAlone, NaiveLoop, plain_model, reference_transform
from benchmarks.timing import interleaved, summary
from core import Classifier, PillowDecoder, PreparedBatch, load_checkpoint, read_image

ROOT = Path(__file__).resolve().parent.parent
Log = Callable[[str], None]


def ratio(a: float, b: float) -> float:
    return round(a / b, 2)


# ---- per-image latency -------------------------------------------------------------------
def latency(inp: Inputs, rounds: int, log: Log) -> dict[str, object]:
    """Batch-1 latency of a small photo and a 24 MP JPEG: naive loop, ours, model alone."""
    naive = NaiveLoop(plain_model(inp.checkpoint))
    clf = Classifier(load_checkpoint(inp.checkpoint), "cpu")
    floor = ModelAlone(naive.model)
    ready = torch.randn(1, 3, 224, 224)
    variants = {
        "model_alone": floor,
        "ours_model_only": lambda: clf.predict(ready),
        "naive_small": lambda: naive(inp.small),
        "ours_small": lambda: clf.classify(inp.small),
        "naive_24mp": lambda: naive(inp.large),
        "ours_24mp": lambda: clf.classify(inp.large),
    }
    log(f"latency: {len(variants)} variants x {rounds} rounds")
    t = interleaved(variants, rounds)
    s = {k: summary(v) for k, v in t.items()}
    m = s["model_alone"]["median"]
    out: dict[str, object] = {"ms": s}
    out["ratios_to_model_alone"] = {k: ratio(v["median"], m) for k, v in s.items()}
    out["speedup_vs_naive"] = {
        "small": ratio(s["naive_small"]["median"], s["ours_small"]["median"]),
        "24mp": ratio(s["naive_24mp"]["median"], s["ours_24mp"]["median"]),
    }
    out["breakdown_24mp_ms"] = b = _breakdown(clf, inp.large, naive, max(3, rounds // 2))
    # no decode-then-classify path beats this: libjpeg's 1/8 scale still entropy-decodes every
    # coefficient of the file, serially, before the network can start
    out["floor_24mp_ratio"] = ratio(b["decode_at_one_eighth"] + m, m)
    return out


def _breakdown(clf: Classifier, path: Path, naive: NaiveLoop, rounds: int) -> dict[str, object]:
    """Where the time of one 24 MP JPEG goes, ours against the naive loop."""
    pre = clf.model.preprocess
    img_ours = read_image(path, pre.resize_size)
    with Image.open(path) as im:
        img_full = im.convert("RGB")
    tensor = pre(img_ours)

    def full_decode() -> None:
        with Image.open(path) as im:
            im.convert("RGB")

    def smallest_decode() -> None:
        with Image.open(path) as im:
            im.draft("RGB", (im.width // 8, im.height // 8))
            im.load()

    t = interleaved(
        {
            "naive_decode": full_decode,
            "naive_preprocess": lambda: naive.transform(img_full),
            "ours_decode": lambda: read_image(path, pre.resize_size),
            "decode_at_one_eighth": smallest_decode,
            "ours_preprocess": lambda: pre(img_ours),
            "ours_network": lambda: clf.predict(tensor.unsqueeze(0)),
        },
        rounds,
    )
    return {k: summary(v)["median"] for k, v in t.items()} | {
        "ours_decoded_size": list(img_ours.size)
    }


# ---- folder throughput -------------------------------------------------------------------
def folder(inp: Inputs, rounds: int, log: Log) -> dict[str, object]:
    files = inp.folder_files()
    naive = NaiveLoop(plain_model(inp.checkpoint))
    clf = Classifier(load_checkpoint(inp.checkpoint), "cpu")
    naive_out: dict[str, tuple[list[int], list[float]]] = {}
    ours_out: dict[str, tuple[list[int], list[float]]] = {}

    def run_naive() -> None:
        for p in files:
            naive_out[str(p)] = naive(p, TOP)

    def run_ours() -> None:
        for r in clf.classify_many(files, top_k=TOP):
            assert r.ok, r.error
            ours_out[r.path] = (
                [p.index for p in r.predictions],
                [p.probability for p in r.predictions],
            )

    full_out: dict[str, tuple[list[int], list[float]]] = {}

    no_draft = Classifier(
        load_checkpoint(inp.checkpoint), "cpu", decoder=PillowDecoder(draft_oversample=None)
    )

    def run_ours_no_draft() -> None:
        for r in no_draft.classify_many(files, top_k=TOP):
            assert r.ok, r.error
            full_out[r.path] = (
                [p.index for p in r.predictions],
                [p.probability for p in r.predictions],
            )

    log(f"folder: {len(files)} photos, naive loop vs classify_many, {rounds} rounds")
    t = interleaved(
        {"naive": run_naive, "ours": run_ours, "ours_no_draft": run_ours_no_draft},
        rounds,
        warmup=0,
    )
    ips = {k: [len(files) / s for s in v] for k, v in t.items()}
    out: dict[str, object] = {
        "images": len(files),
        "seconds": {k: summary(v, 1.0) for k, v in t.items()},
        "images_per_s": {k: round(float(np.median(v)), 2) for k, v in ips.items()},
        "speedup": ratio(float(np.median(t["naive"])), float(np.median(t["ours"]))),
        "speedup_no_draft": ratio(
            float(np.median(t["naive"])), float(np.median(t["ours_no_draft"]))
        ),
    }
    out["agreement"] = compare(files, naive_out, ours_out, clf)
    diffs = [_top5_diff(naive_out[k], full_out[k]) for k in naive_out]
    out["agreement_no_draft"] = {
        "images": len(files),
        "same_top1": sum(naive_out[k][0][0] == full_out[k][0][0] for k in naive_out),
        "same_top5_in_order": sum(naive_out[k][0][:5] == full_out[k][0][:5] for k in naive_out),
        "max_abs_prob_diff": float(max(diffs)),
    }
    return out


TOP = 10  # compare the top-5 of one against the top-10 of the other: ties may swap ranks


def _top5_diff(ref: tuple[list[int], list[float]], ours: tuple[list[int], list[float]]) -> float:
    """Largest probability difference over the reference's top-5 classes."""
    omap = dict(zip(*ours, strict=True))
    return max(abs(p - omap.get(i, 0.0)) for i, p in zip(ref[0][:5], ref[1][:5], strict=True))


def compare(
    files: list[Path],
    ref: dict[str, tuple[list[int], list[float]]],
    ours: dict[str, tuple[list[int], list[float]]],
    clf: Classifier,
) -> dict[str, object]:
    """Same results? Exact (to float noise) where the image is decoded in full; for large
    JPEGs decoded with `draft`, how close."""
    full_diffs, draft_diffs = [], []
    full_same5 = full_top1 = draft_top1 = draft_same5 = n_draft = 0
    top1s = set()
    for p in files:
        ri, rv = ref[str(p)]
        oi, ov = ours[str(p)]
        top1s.add(ri[0])
        with Image.open(p) as im:
            size = im.size
        drafted = read_image(p, clf.model.preprocess.resize_size).size != size
        diff = _top5_diff((ri, rv), (oi, ov))
        if drafted:
            n_draft += 1
            draft_diffs.append(diff)
            draft_top1 += ri[0] == oi[0]
            draft_same5 += ri[:5] == oi[:5]
        else:
            full_diffs.append(diff)
            full_top1 += ri[0] == oi[0]
            full_same5 += ri[:5] == oi[:5]
    n_full = len(files) - n_draft
    return {
        "distinct_top1_classes": len(top1s),
        "decoded_in_full": {
            "images": n_full,
            "same_top1": full_top1,
            "same_top5_in_order": full_same5,
            "max_abs_prob_diff": float(max(full_diffs, default=0.0)),
        },
        "decoded_with_draft": {
            "images": n_draft,
            "same_top1": draft_top1,
            "same_top5_in_order": draft_same5,
            "max_abs_prob_diff": float(max(draft_diffs, default=0.0)),
            "median_abs_prob_diff": float(np.median(draft_diffs)) if draft_diffs else 0.0,
        },
    }


# ---- levers ------------------------------------------------------------------------------
def lever_draft(inp: Inputs, rounds: int, log: Log) -> dict[str, object]:
    """Decode + preprocess time and how far the 224 crop moves, per draft oversampling."""
    pre = load_checkpoint(inp.checkpoint).preprocess
    tf = reference_transform()
    files = {"24mp": inp.large, "12mp": next(p for p in inp.folder_files() if _mp(p) > 11)}
    out: dict[str, object] = {}
    log("lever: JPEG draft decoding")
    for label, path in files.items():
        with Image.open(path) as im:
            ref = tf(im.convert("RGB"))
        row: dict[str, object] = {}
        for name, setting in (("full", None), ("4x", 4), ("2x", 2), ("1x", 1)):
            decoder = PillowDecoder(draft_oversample=setting)
            x = decoder.prepare(path, pre)
            decoded = decoder.read(path, pre).size
            t = interleaved({"t": lambda path=path, d=decoder: d.prepare(path, pre)}, rounds)["t"]
            # error in 8-bit pixel levels of the un-normalised crop
            std = torch.tensor(pre.std).view(3, 1, 1) * 255
            err = ((x - ref).abs() * std).flatten()
            row[name] = {
                "decoded_size": list(decoded),
                "ms": summary(t)["median"],
                "crop_mean_abs_err_levels": round(float(err.mean()), 3),
                "crop_p99_abs_err_levels": round(float(err.quantile(0.99)), 2),
            }
        out[label] = row
    return out


def lever_resize(inp: Inputs, rounds: int, log: Log) -> dict[str, object]:
    """Resizing the whole image then cropping (the reference) against resampling only the crop
    (`Preprocess.resize_crop` above 1024 px), on decoded pictures, side by side."""
    pre = load_checkpoint(inp.checkpoint).preprocess
    tf = reference_transform().transforms[:2]  # Resize, CenterCrop
    with Image.open(inp.large) as im:
        full = im.convert("RGB")
    pictures = {
        "6000x4000": full,
        "4032x3024": full.resize((4032, 3024)),
        "1500x1000 (the 24 MP JPEG's draft)": read_image(inp.large, pre.resize_size),
    }
    log("lever: resampling only the crop")
    out: dict[str, object] = {}
    for label, img in pictures.items():
        t = interleaved(
            {
                "whole_then_crop": lambda img=img: tf[1](tf[0](img)),
                "crop_only": lambda img=img: pre.resize_crop(img),
            },
            rounds,
        )
        ref = np.asarray(tf[1](tf[0](img)), dtype=np.int16)
        diff = np.abs(np.asarray(pre.resize_crop(img), dtype=np.int16) - ref)
        out[label] = {k: summary(v)["median"] for k, v in t.items()} | {
            "pixels_differing": round(float((diff > 0).mean()), 6),
            "max_diff_levels": int(diff.max()),
        }
    return out


def _size(p: Path) -> tuple[int, int]:
    with Image.open(p) as im:
        return im.size


def _mp(p: Path) -> float:
    w, h = _size(p)
    return w * h / 1e6


def lever_model(inp: Inputs, rounds: int, log: Log) -> dict[str, object]:
    """Model alone: layout, grad mode, threads, bf16, batch size."""
    log("lever: channels_last, inference_mode, threads, bf16 (model alone)")
    plain = plain_model(inp.checkpoint)
    cl = plain_model(inp.checkpoint).to(memory_format=torch.channels_last)
    x1 = torch.randn(1, 3, 224, 224)
    x8 = torch.randn(8, 3, 224, 224)
    x1c = x1.contiguous(memory_format=torch.channels_last)
    x8c = x8.contiguous(memory_format=torch.channels_last)

    def run(model: torch.nn.Module, x: torch.Tensor, mode: str = "inference", bf16: bool = False):
        def f() -> None:
            grad = torch.inference_mode() if mode == "inference" else torch.no_grad()
            amp = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with grad, amp:
                model(x)

        return f

    variants = {
        "b1_no_grad_nchw": run(plain, x1, "no_grad"),
        "b1_inference_nchw": run(plain, x1),
        "b1_inference_channels_last": run(cl, x1c),
        "b1_bf16_channels_last": run(cl, x1c, bf16=True),
        "b8_inference_nchw_per_image": run(plain, x8),
        "b8_inference_channels_last_per_image": run(cl, x8c),
        "b8_bf16_channels_last_per_image": run(cl, x8c, bf16=True),
    }
    t = interleaved(variants, rounds)
    ms = {k: summary(v)["median"] / (8 if k.startswith("b8") else 1) for k, v in t.items()}
    threads = torch.get_num_threads()
    by_threads = {}
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        by_threads[str(n)] = summary(interleaved({"t": run(cl, x1c)}, rounds)["t"])["median"]
    torch.set_num_threads(threads)
    return {
        "ms": {k: round(v, 2) for k, v in ms.items()},
        "b1_channels_last_ms_by_threads": by_threads,
    }


def lever_folder(inp: Inputs, rounds: int, log: Log) -> dict[str, object]:
    """Folder throughput by batch size and decode workers, and the bf16 opt-in's agreement."""
    files = inp.folder_files()
    clf = Classifier(load_checkpoint(inp.checkpoint), "cpu")
    settings = {
        "batch1_workers1": (1, 1),
        "batch8_workers1": (8, 1),
        "batch8_workers2": (8, 2),
        "batch16_workers1": (16, 1),
        "serial_decode_batch8": (8, 0),
    }
    log(f"lever: folder batch size / decode workers ({len(settings)} settings x {rounds})")

    def make(bs: int, w: int) -> Callable[[], None]:
        def f() -> None:
            if w == 0:  # decode on the calling thread, no overlap
                pre, pillow = clf.model.preprocess, clf.decoder.pillow
                for i in range(0, len(files), bs):
                    chunk = [pillow.prepare_one(p, pre) for p in files[i : i + bs]]
                    clf.classify_batch(PreparedBatch.of(chunk, torch.stack), 5)
            else:
                list(clf.classify_many(files, batch_size=bs, workers=w))

        return f

    t = interleaved({k: make(*v) for k, v in settings.items()}, rounds, warmup=0)
    ips = {k: round(len(files) / float(np.median(v)), 2) for k, v in t.items()}

    log("lever: bf16 opt-in on the folder (speed and top-1 agreement with fp32)")
    fp32 = {r.path: r for r in clf.classify_many(files)}
    fast = Classifier(load_checkpoint(inp.checkpoint), "cpu", precision="bf16")
    tb = interleaved(
        {
            "fp32": lambda: list(clf.classify_many(files)),
            "bf16": lambda: list(fast.classify_many(files)),
        },
        rounds,
        warmup=0,
    )
    bf16 = {r.path: r for r in fast.classify_many(files)}
    same1 = sum(fp32[k].top.index == bf16[k].top.index for k in fp32)
    same5 = sum(
        {p.index for p in fp32[k].predictions} == {p.index for p in bf16[k].predictions}
        for k in fp32
    )
    dp = [
        abs(
            fp32[k].top.probability
            - next(
                (p.probability for p in bf16[k].predictions if p.index == fp32[k].top.index), 0.0
            )
        )
        for k in fp32
    ]
    return {
        "images_per_s": ips,
        "bf16": {
            "images_per_s": {k: round(len(files) / float(np.median(v)), 2) for k, v in tb.items()},
            "images": len(fp32),
            "distinct_fp32_top1": len({r.top.index for r in fp32.values()}),
            "same_top1": same1,
            "same_top5_set": same5,
            "top1_prob_abs_diff_median": round(float(np.median(dp)), 5),
            "top1_prob_abs_diff_max": round(float(max(dp)), 5),
        },
    }


def lever_weights(inp: Inputs, rounds: int, log: Log) -> dict[str, object]:
    log("lever: reading weights with mmap")

    def load(mmap: bool) -> Callable[[], None]:
        return lambda: torch.load(inp.checkpoint, map_location="cpu", weights_only=True, mmap=mmap)

    t = interleaved({"mmap": load(True), "read": load(False)}, rounds)
    return {"torch_load_ms": {k: summary(v)["median"] for k, v in t.items()}}


# ---- start-up, in fresh processes ------------------------------------------------------
def _time_to_line(
    cmd: list[str], env: dict[str, str] | None = None, timeout: float = 300
) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not line:
        raise RuntimeError(f"no output from {' '.join(cmd)} (exit {proc.returncode})")
    return elapsed, line.strip()


def startup(inp: Inputs, rounds: int, log: Log) -> dict[str, object]:
    py = sys.executable
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    ckpt = str(inp.checkpoint)
    cmds: dict[str, list[str]] = {
        "window_bare": [py, "-m", "benchmarks.window_probe", "bare"],
        "first_prediction_floor": [py, "-m", "benchmarks.probes", "floor", ckpt],
        "first_prediction_floor_gc_paused": [
            py,
            "-m",
            "benchmarks.probes",
            "floor_gc_paused",
            ckpt,
        ],
        "first_prediction_cli": [
            py,
            "-m",
            "core",
            "--weights",
            ckpt,
            "--device",
            "cpu",
            "--format",
            "json",
            str(inp.small),
        ],
    }
    if (ROOT / "gui" / "app.py").exists():
        cmds["window_app"] = [py, "-m", "benchmarks.window_probe", "gui"]
        cmds["first_prediction_app_self_test"] = [
            py,
            "-m",
            "gui",
            "--self-test",
            "--weights",
            ckpt,
            "--device",
            "cpu",
        ]
    for probe in ("first_photo", "first_photo_warmed"):
        cmds[probe] = [py, "-m", "benchmarks.probes", probe, ckpt, str(inp.small)]
    log(f"start-up: {len(cmds)} programs x {rounds} fresh launches")
    times: dict[str, list[float]] = {k: [] for k in cmds}
    floor_parts: list[dict[str, float]] = []
    photo_ms: dict[str, list[float]] = {}
    failed: dict[str, str] = {}
    for _ in range(rounds):
        for name, cmd in cmds.items():
            if name in failed:
                continue
            try:
                t, line = _time_to_line(cmd, env)
            except Exception as exc:  # the app may not be ready yet: report, do not stop
                failed[name] = str(exc)
                continue
            times[name].append(t)
            if name == "first_prediction_floor":
                floor_parts.append(json.loads(line))
            if name.startswith("first_photo"):
                for key, value in json.loads(line).items():
                    if key.endswith("_photo_s"):
                        photo_ms.setdefault(f"{name}:{key[:-2]}", []).append(value)
    for name in [n for n in times if n.startswith("first_photo")]:
        times.pop(name)  # what counts is the photo's time inside, not the launch
    s = {k: summary(v) for k, v in times.items() if v}
    out: dict[str, object] = {"ms": s, "failed": failed}
    # the first photo after loading, in a fresh process: cold, or after `Classifier.warm_up`
    out["first_photo_ms"] = {k: summary(v) for k, v in photo_ms.items()}
    if "window_app" in s:
        out["window_ratio_app_to_bare"] = ratio(
            s["window_app"]["median"], s["window_bare"]["median"]
        )
    f = s["first_prediction_floor"]["median"]
    out["first_prediction_ratio_cli_to_floor"] = ratio(s["first_prediction_cli"]["median"], f)
    if "first_prediction_app_self_test" in s:
        out["first_prediction_ratio_app_to_floor"] = ratio(
            s["first_prediction_app_self_test"]["median"], f
        )
    if "first_prediction_floor_gc_paused" in s:
        # the same floor, importing as the engine does: what the app adds on top of that
        g = s["first_prediction_floor_gc_paused"]["median"]
        out["first_prediction_ratio_cli_to_floor_gc_paused"] = ratio(
            s["first_prediction_cli"]["median"], g
        )
        if "first_prediction_app_self_test" in s:
            out["first_prediction_ratio_app_to_floor_gc_paused"] = ratio(
                s["first_prediction_app_self_test"]["median"], g
            )
    out["floor_parts_ms"] = {
        k: round(float(np.median([p[k] for p in floor_parts])) * 1000, 1)
        for k in floor_parts[0]
        if k.endswith("_s")
    }
    return out


def memory(inp: Inputs, log: Log) -> dict[str, object]:
    """Peak resident memory of a fresh process doing each job."""
    py = sys.executable
    ckpt = str(inp.checkpoint)
    files = [str(p) for p in inp.folder_files()]
    jobs = {
        "naive_24mp": ["naive", ckpt, str(inp.large)],
        "ours_24mp": ["fast", ckpt, str(inp.large)],
        "naive_folder": ["naive", ckpt, *files],
        "ours_folder": ["fast", ckpt, *files],
    }
    log("peak memory: 4 fresh processes")
    out = {}
    for name, args in jobs.items():
        _, line = _time_to_line([py, "-m", "benchmarks.probes", *args])
        out[name] = round(json.loads(line)["peak_rss_mib"], 0)
    return {"peak_rss_mib": out}
