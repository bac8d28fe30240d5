"""Check a built bundle: the frozen app must classify, offscreen, as the source does.

    python packaging/package_test.py [--dist dist/resnet-classifier]

`make package-test` runs it after `make package`. It makes a ResNet50 checkpoint (random weights,
fixed seed), runs the frozen binary's `--self-test --weights` on it with no network and no torch
hub cache, and compares the JSON line with `resnet-classify --format json` run from source on the
same sample image. It then checks the way the bundle gets its ImageNet weights: with a bundled
file, `--self-test` alone must classify offline; without one, it must fail with exit 3 and a
message, not a traceback. Exit 0 when every check passes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = "resnet-classifier"


def binary_in(dist: Path) -> Path:
    if sys.platform == "win32":
        return dist / f"{APP}.exe"
    return dist / APP


def internal_dir(dist: Path) -> Path:
    return dist / "_internal"


def make_checkpoint(path: Path) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50().state_dict(), path)


def offline_env(home: Path) -> dict[str, str]:
    """No display, no network, no torch hub cache, no remembered settings."""
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        TORCH_HOME=str(home / "torch"),
        # Port 9 (discard) on loopback: any download attempt fails at once.
        RESNET_CLASSIFIER_WEIGHTS_URL="http://127.0.0.1:9/weights",
    )
    env.pop("RESNET_CLASSIFIER_WEIGHTS_DIR", None)
    return env


def run(
    cmd: list[str], env: dict[str, str], timeout: float
) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return done, time.perf_counter() - start


def json_line(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValueError(f"expected one JSON line on stdout, got {len(lines)}: {stdout!r}")
    return json.loads(lines[0])


def same_predictions(frozen: list[dict], source: list[dict]) -> bool:
    if [p["index"] for p in frozen] != [p["index"] for p in source]:
        return False
    return all(
        abs(a["probability"] - b["probability"]) < 1e-4 for a, b in zip(frozen, source, strict=True)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / APP)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()

    binary = binary_in(args.dist)
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            failures.append(what)

    if not binary.is_file():
        print(f"FAIL no frozen binary at {binary}; run `make package` first", file=sys.stderr)
        return 1
    internal = internal_dir(args.dist)
    check(
        any((internal / "torchvision").glob("_C_stable.*")),
        "torchvision's operators (_C_stable) are in the bundle",
    )
    check(not (internal / "triton").exists(), "triton is left out")
    bundled = sorted((internal / "resources" / "weights").glob("resnet50-*.pth"))

    with tempfile.TemporaryDirectory(prefix="package-test-") as tmp:
        tmp_path = Path(tmp)
        checkpoint = tmp_path / "resnet50-random.pth"
        make_checkpoint(checkpoint)
        env = offline_env(tmp_path)
        sample = ROOT / "resources" / "sample.jpg"

        frozen, seconds = run(
            [str(binary), "--self-test", "--weights", str(checkpoint)], env, args.timeout
        )
        print(f"     frozen --self-test: exit {frozen.returncode} in {seconds:.1f} s", flush=True)
        check(frozen.returncode == 0, "frozen --self-test with a checkpoint exits 0")
        if frozen.returncode != 0:
            print(frozen.stderr[-4000:], file=sys.stderr)
        else:
            record = json_line(frozen.stdout)
            cli = [sys.executable, "-m", "core", "--format", "json", "--weights", str(checkpoint)]
            source, _ = run([*cli, str(sample)], env, args.timeout)
            check(source.returncode == 0, "resnet-classify from source classifies the sample")
            if source.returncode == 0:
                expected = json_line(source.stdout)
                print(f"     frozen top-1: {record['predictions'][0]}", flush=True)
                check(
                    same_predictions(record["predictions"], expected["predictions"]),
                    "the frozen app's top-5 equals resnet-classify's on the same checkpoint",
                )
        check("Traceback" not in frozen.stderr, "no traceback on stderr")

        plain, seconds = run([str(binary), "--self-test"], env, args.timeout)
        print(f"     frozen --self-test, no --weights: exit {plain.returncode} in {seconds:.1f} s")
        if bundled:
            names = ", ".join(p.name for p in bundled)
            check(plain.returncode == 0, f"offline, the bundled weights ({names}) classify")
            if plain.returncode == 0:
                print(f"     top-1: {json_line(plain.stdout)['predictions'][0]}", flush=True)
        else:
            check(
                plain.returncode == 3 and "Traceback" not in plain.stderr and plain.stderr.strip(),
                "offline with no bundled weights: exit 3 with a message",
            )
            print(f"     stderr: {plain.stderr.strip()[-300:]}", flush=True)

    if failures:
        print(f"package-test: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("package-test: the frozen app classifies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
