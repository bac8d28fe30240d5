"""Prove the engine's CUDA path on a machine with a GPU; writes a JSON record of each check.

    python -m benchmarks.cuda_check [--out DIR]

Checks: the GPU is listed by `available_devices`; the same top-5 on CUDA as on the CPU for real
photos; `classify_many` on CUDA keeps order and per-image errors and matches per-image results;
a GPU that is not there is a clear `DeviceUnavailableError` (and exit 3 from the CLI); an
induced CUDA out-of-memory is `OutOfDeviceMemoryError` and the engine works afterwards; the
CLI with `--device cuda` exits 0. Exits non-zero if any check fails. Runs on the CPU too
(the CUDA checks then report "skipped"), so it can be tried anywhere first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from benchmarks.data import base_photo, make_checkpoint
from core import (
    Classifier,
    DeviceUnavailableError,
    OutOfDeviceMemoryError,
    PillowDecoder,
    available_devices,
    load_checkpoint,
    resolve_device,
)

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle", "hubble_deep_field")


class Checks:
    def __init__(self) -> None:
        self.results: list[dict[str, object]] = []

    def run(self, name: str, fn: Callable[[], object]) -> None:
        start = time.perf_counter()
        try:
            detail = fn()
            status = "skipped" if detail == "skipped" else "passed"
        except Exception as exc:
            status, detail = "FAILED", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        rec = {"check": name, "status": status, "detail": detail}
        rec["seconds"] = round(time.perf_counter() - start, 2)
        self.results.append(rec)
        print(
            f"[{status}] {name}: {detail if status != 'FAILED' else detail.splitlines()[0]}",
            flush=True,
        )

    @property
    def ok(self) -> bool:
        return all(r["status"] != "FAILED" for r in self.results)


def _fill_gpu() -> list[torch.Tensor]:
    """Take every byte the allocator will give, in ever smaller pieces, until nothing fits."""
    held: list[torch.Tensor] = []
    for size in (256 << 20, 16 << 20, 1 << 20, 64 << 10):
        while True:
            try:
                held.append(torch.empty(size, dtype=torch.uint8, device="cuda"))
            except torch.cuda.OutOfMemoryError:
                break
    return held


def make_photos(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in PHOTOS:
        path = folder / f"{name}.jpg"
        Image.fromarray(base_photo(name)).convert("RGB").save(path, quality=92)
        paths.append(path)
    big = folder / "camera_12mp.jpg"
    Image.fromarray(base_photo("coffee")).resize((4000, 3000), Image.BICUBIC).save(big, quality=90)
    paths.append(big)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cuda_check")
    p.add_argument("--out", type=Path, default=Path("cuda_check_out"))
    p.add_argument(
        "--dry-run-on-cpu",
        action="store_true",
        help="without a GPU: run the CUDA checks' code against the CPU, to catch mistakes",
    )
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cuda_check_"))  # checkpoint and photos, not results
    cuda = torch.cuda.is_available()
    target = "cuda" if cuda else "cpu" if args.dry_run_on_cpu else None
    checks = Checks()
    ckpt = work / "resnet50_centred.pth"
    work.mkdir(parents=True, exist_ok=True)
    make_checkpoint(ckpt)
    photos = make_photos(work / "photos")
    broken = work / "photos" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a real jpeg")
    state: dict[str, object] = {}

    def devices() -> object:
        devs = available_devices()
        listed = [(d.id, d.name) for d in devs]
        if not cuda:
            return "skipped"
        assert devs[0].id == "cpu"
        assert any(d.id == "cuda:0" and torch.cuda.get_device_name(0) in d.name for d in devs)
        assert resolve_device("auto") == torch.device("cuda:0")
        return {"listed": listed, "auto": str(resolve_device("auto"))}

    def same_top5() -> object:
        cpu = Classifier(load_checkpoint(ckpt), "cpu")
        state["cpu_results"] = {str(p): cpu.classify(p, top_k=1000) for p in photos}
        if target is None:
            return "skipped"
        gpu = Classifier(load_checkpoint(ckpt), target, decoder=PillowDecoder())  # not nvJPEG
        state["gpu"] = gpu
        assert gpu.device.type == target and gpu.info.device.startswith(target)
        rows, worst, distinct = [], 0.0, set()
        for path in photos:
            c = state["cpu_results"][str(path)]  # type: ignore[index]
            g = gpu.classify(path, top_k=1000)
            cmap = {q.index: q.probability for q in c.predictions}
            diff = max(abs(cmap[q.index] - q.probability) for q in g.predictions)
            worst = max(worst, diff)
            distinct.add(c.top.index)
            c5 = [q.index for q in c.predictions[:5]]
            g5 = [q.index for q in g.predictions[:5]]
            rows.append(
                {"image": path.name, "cpu_top5": c5, "cuda_top5": g5, "max_abs_prob_diff": diff}
            )
            assert g.device.startswith(target)
            assert c5[0] == g5[0], f"{path.name}: top-1 differs: {c5} vs {g5}"
            assert set(c5) == set(g5), f"{path.name}: top-5 differs: {c5} vs {g5}"
            assert diff < 5e-3, f"{path.name}: probabilities differ by {diff:.2e}"
        if not cuda:
            return {"images": rows, "distinct_top1": len(distinct), "max_abs_prob_diff": worst}
        # the same, with TF32 off, to show the difference above is TF32, not the engine
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            worst_fp32 = 0.0
            for path in photos:
                c = state["cpu_results"][str(path)]  # type: ignore[index]
                g = gpu.classify(path, top_k=1000)
                cmap = {q.index: q.probability for q in c.predictions}
                worst_fp32 = max(
                    worst_fp32, max(abs(cmap[q.index] - q.probability) for q in g.predictions)
                )
        finally:
            torch.backends.cudnn.allow_tf32 = tf32
        return {
            "images": rows,
            "distinct_top1": len(distinct),
            "max_abs_prob_diff_default_tf32": worst,
            "max_abs_prob_diff_tf32_off": worst_fp32,
        }

    def many() -> object:
        if target is None:
            return "skipped"
        gpu: Classifier = state["gpu"]  # type: ignore[assignment]
        paths = [photos[0], broken, *photos[1:]]
        results = list(gpu.classify_many(paths, top_k=5, batch_size=3))
        assert [r.path for r in results] == [str(q) for q in paths]
        assert [r.ok for r in results] == [True, False] + [True] * (len(paths) - 2)
        assert "broken.jpg" in (results[1].error or "")
        worst = 0.0
        for r in results:
            if r.ok:
                single = gpu.classify(Path(r.path), top_k=5)
                assert [q.index for q in r.predictions] == [q.index for q in single.predictions]
                worst = max(
                    worst,
                    max(
                        abs(a.probability - b.probability)
                        for a, b in zip(r.predictions, single.predictions, strict=True)
                    ),
                )
        assert worst < 1e-3
        return {
            "images": len(paths),
            "error_kept": results[1].error,
            "max_abs_prob_diff_batched_vs_single": worst,
        }

    def missing_gpu() -> object:
        count = torch.cuda.device_count()
        spec = f"cuda:{max(7, count)}"
        try:
            resolve_device(spec)
        except DeviceUnavailableError as exc:
            message = exc.message
        else:
            raise AssertionError(f"{spec} was accepted")
        clf = Classifier(load_checkpoint(ckpt), "cpu")
        try:
            clf.to(spec)
        except DeviceUnavailableError:
            pass
        else:
            raise AssertionError(f"Classifier.to({spec!r}) did not refuse")
        assert clf.device.type == "cpu"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "core",
                "--weights",
                str(ckpt),
                "--device",
                spec,
                str(photos[0]),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert proc.returncode == 3, (proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr
        return {
            "device": spec,
            "message": message,
            "cli_exit": proc.returncode,
            "cli_stderr": proc.stderr.strip(),
        }

    def out_of_memory() -> object:
        if not cuda:
            return "skipped"
        gpu: Classifier = state["gpu"]  # type: ignore[assignment]
        before = gpu.classify(photos[0], top_k=5)
        torch.cuda.empty_cache()
        free, total = torch.cuda.mem_get_info()
        hog = torch.empty(max(0, free - (512 << 20)), dtype=torch.uint8, device="cuda")
        out: dict[str, object] = {"gpu_total_gib": round(total / 2**30, 1), "left_free_mib": 512}
        try:
            batch = torch.zeros(256, 3, 224, 224)
            try:
                gpu.predict(batch)
            except OutOfDeviceMemoryError as exc:
                out["predict_error"] = exc.message
            else:
                raise AssertionError("a batch of 256 with 512 MiB free did not run out of memory")
            # moving a second model onto the full GPU fails cleanly and keeps the CPU
            other = Classifier(load_checkpoint(ckpt), "cpu")
            hog2 = _fill_gpu()
            try:
                other.to("cuda")
            except OutOfDeviceMemoryError as exc:
                out["move_error"] = exc.message
                assert other.device.type == "cpu"
                assert other.classify(photos[0]).ok
            else:
                out["move_error"] = "none: the model fitted in what was left"
            del hog2
        finally:
            del hog
            torch.cuda.empty_cache()
        after = gpu.classify(photos[0], top_k=5)
        assert [q.index for q in after.predictions] == [q.index for q in before.predictions]
        assert abs(after.top.probability - before.top.probability) < 1e-4
        out["after_oom_top1"] = after.top.label
        return out

    def run_cli(*paths: Path) -> subprocess.CompletedProcess[str]:
        command = ["--weights", str(ckpt), "--device", str(target), "--format", "json"]
        return subprocess.run(
            [sys.executable, "-m", "core", *command, *map(str, paths)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    def cli() -> object:
        if target is None:
            return "skipped"
        proc = run_cli(work / "photos")
        lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
        ok = [x for x in lines if "predictions" in x]
        bad = [x for x in lines if "error" in x]
        assert len(lines) == len(photos) + 1, (proc.returncode, proc.stdout, proc.stderr)
        assert proc.returncode == 1 and len(bad) == 1, (proc.returncode, proc.stderr)  # broken.jpg
        proc2 = run_cli(*photos)
        assert proc2.returncode == 0, (proc2.returncode, proc2.stderr)
        return {
            "folder_with_one_broken_exit": proc.returncode,
            "photos_only_exit": proc2.returncode,
            "records": len(lines),
            "classified": len(ok),
            "first": ok[0] if ok else None,
        }

    def explain() -> object:
        if target is None:
            return "skipped"
        try:
            from core import explain as grad_cam  # another issue's module, if present
        except ImportError:
            return "skipped"
        gpu: Classifier = state["gpu"]  # type: ignore[assignment]
        e = grad_cam(gpu, photos[0])
        return {"label": getattr(e, "label", None), "size": list(getattr(e, "size", ()))}

    for name, fn in [
        ("devices listed", devices),
        ("same top-5 on CUDA as on CPU", same_top5),
        ("classify_many on CUDA", many),
        ("a GPU that is not there", missing_gpu),
        ("CUDA out of memory, then still working", out_of_memory),
        ("CLI --device cuda", cli),
        ("Grad-CAM on CUDA (issue 6, if present)", explain),
    ]:
        checks.run(name, fn)

    record = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "python": sys.version.split()[0],
        "ok": checks.ok,
        "checks": checks.results,
    }
    (args.out / "cuda_check.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    print("ALL PASSED" if checks.ok else "SOME CHECKS FAILED", flush=True)
    return 0 if checks.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
