"""`python -m benchmarks.cpu_precision`: fp32 against bf16 and a `torch.compile`d model on this
CPU, side by side in one process, with their agreement on real photos.

Variants (all channels-last under `inference_mode`, as the engine runs the network):
- fp32: the engine's default;
- bf16: the engine's `precision="bf16"` (autocast to bfloat16; oneDNN uses AMX tiles where the
  CPU has them, `lscpu | grep amx`);
- compiled fp32 and compiled bf16: the same module through `torch.compile` (inductor), with
  its compile time, which a desktop program would pay at every start.

Measured: batch 1 (what the window's first photo pays once the model is warm), batch 8 (the
CLI's and the window's batch; model alone), and the engine's whole folder (`classify_many`,
decoding included) for fp32 and bf16. The variants take turns each round, so the load of a
shared machine falls on all alike: read the ratios. Agreement with fp32: the same top-1, the
same top-5 set, and the largest difference in the top-1 probability over the benchmark folder
(100 photos from scikit-image at sizes users have; `benchmarks/data.py`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_precision", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--folder-rounds", type=int, default=2)
    p.add_argument("--no-compile", action="store_true", help="leave the compiled variants out")
    p.add_argument("--out", type=Path, default=RESULTS / "cpu_precision.json")
    args = p.parse_args(argv)

    import torch

    from benchmarks.data import make_inputs
    from benchmarks.timing import interleaved, load_average, log, machine, summary
    from core import Classifier, cpu_matrix_units, load_checkpoint

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info = machine()
    inp = make_inputs(log)
    files = inp.folder_files()
    fp32 = Classifier(load_checkpoint(inp.checkpoint), "cpu")
    bf16 = Classifier(load_checkpoint(inp.checkpoint), "cpu", precision="bf16")
    log(f"{len(files)} photos; preprocessing them once")
    x = torch.stack([fp32.prepare(f) for f in files]).contiguous(memory_format=torch.channels_last)
    pad = (-len(x)) % 8  # the compiled variants see two shapes only: 8 and 1
    batches = list(torch.cat([x, x[:pad]]).split(8))

    def runner(module: torch.nn.Module, bf: bool):
        def run(batch: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf):
                return torch.softmax(module(batch).float(), 1)

        return run

    runs = {
        "fp32": runner(fp32.model.module, False),
        "bf16": runner(bf16.model.module, True),
    }
    compile_seconds: dict[str, float] = {}
    if not args.no_compile:
        for name, bf in (("compiled fp32", False), ("compiled bf16", True)):
            model = load_checkpoint(inp.checkpoint)
            module = model.module.eval().to(memory_format=torch.channels_last)
            compiled = torch.compile(module, dynamic=False)
            run = runner(compiled, bf)
            log(f"compiling {name} (batch 8 and 1)")
            start = time.perf_counter()
            run(batches[0])
            run(batches[0][:1])
            compile_seconds[name] = round(time.perf_counter() - start, 1)
            log(f"  {compile_seconds[name]} s")
            runs[name] = run
            del model

    log("agreement with fp32 on every photo")
    probs = {name: torch.cat([run(b) for b in batches])[: len(files)] for name, run in runs.items()}
    ref = probs["fp32"]
    ref_top1 = ref.argmax(1)
    ref_top5 = ref.topk(5, 1).indices.sort(1).values
    agreement = {}
    for name, pr in probs.items():
        if name == "fp32":
            continue
        agreement[name] = {
            "same_top1": int((pr.argmax(1) == ref_top1).sum()),
            "same_top5_set": int((pr.topk(5, 1).indices.sort(1).values == ref_top5).all(1).sum()),
            "top1_prob_abs_diff_max": round(
                float(
                    (pr.gather(1, ref_top1[:, None]) - ref.gather(1, ref_top1[:, None])).abs().max()
                ),
                5,
            ),
            "prob_abs_diff_max": round(float((pr - ref).abs().max()), 5),
        }
    one, eight = batches[0][:1], batches[0]
    log("batch 1, interleaved")
    t1 = interleaved({k: (lambda r=r: r(one)) for k, r in runs.items()}, args.rounds * 4)
    log("batch 8, interleaved")
    t8 = interleaved({k: (lambda r=r: r(eight)) for k, r in runs.items()}, args.rounds)
    log("the folder through the engine, fp32 and bf16, interleaved")
    tf = interleaved(
        {
            "fp32": lambda: list(fp32.classify_many(files)),
            "bf16": lambda: list(bf16.classify_many(files)),
        },
        args.folder_rounds,
    )
    base1, base8 = statistics.median(t1["fp32"]), statistics.median(t8["fp32"])
    res = {
        "started": started,
        "command": "python -m benchmarks.cpu_precision " + " ".join(argv or sys.argv[1:]),
        "machine": {**info, "load_average_at_end": load_average()},
        "matrix_units": list(cpu_matrix_units()),
        "images": len(files),
        "compile_seconds": compile_seconds,
        "agreement_with_fp32": agreement,
        "batch1_ms": {k: summary(v) for k, v in t1.items()},
        "batch1_speedup": {k: round(base1 / statistics.median(v), 2) for k, v in t1.items()},
        "batch8_images_per_s": {k: round(8 / statistics.median(v), 1) for k, v in t8.items()},
        "batch8_speedup": {k: round(base8 / statistics.median(v), 2) for k, v in t8.items()},
        "folder_images_per_s": {
            k: round(len(files) / statistics.median(v), 1) for k, v in tf.items()
        },
    }
    res["folder_speedup"] = round(
        res["folder_images_per_s"]["bf16"] / res["folder_images_per_s"]["fp32"], 2
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))
    log(f"wrote {args.out}")
    return 0


def markdown(res: dict) -> str:
    n = res["images"]
    units = ", ".join(res["matrix_units"]) or "none"
    lines = [
        f"fp32 against bf16 and torch.compile on {res['machine']['cpu']} "
        f"({res['machine']['cores']} cores; matrix units: {units}), {n} photos:",
        "",
        "| variant | batch 1 ms (x fp32) | batch 8 images/s (x fp32) | same top-1 | same top-5 "
        "| max top-1 prob diff | compile s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for k, t in res["batch1_ms"].items():
        a = res["agreement_with_fp32"].get(k)
        agree = (
            f"{a['same_top1']}/{n} | {a['same_top5_set']}/{n} | {a['top1_prob_abs_diff_max']:.4f}"
            if a
            else "(reference) | | "
        )
        lines.append(
            f"| {k} | {t['median']:.1f} ({res['batch1_speedup'][k]:.2f}x) | "
            f"{res['batch8_images_per_s'][k]:.1f} ({res['batch8_speedup'][k]:.2f}x) | {agree} | "
            f"{res['compile_seconds'].get(k, '')} |"
        )
    f = res["folder_images_per_s"]
    lines += [
        "",
        f"The folder through the engine (decoding included): fp32 {f['fp32']:.1f} images/s, "
        f"bf16 {f['bf16']:.1f} ({res['folder_speedup']:.2f}x).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
