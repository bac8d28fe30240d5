"""The packaged app against the source: time to window and time to the first prediction.

    .venv/bin/python packaging/measure_bundle.py [--runs 7] [--cold 3]

Each run is a fresh process, frozen and source launched alternately; the clock runs from
spawning it until its line arrives on stdout: `--startup-probe` prints at the window's first
paint, `--self-test --weights CHECKPOINT` prints the sample's top-5 (torch imported, weights
read, one forward pass on the worker). `--cold N` also times N first predictions of each right
after emptying the page cache (Linux, as root), as after a reboot. Uses $DISPLAY if set, else
offscreen. Prints a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "dist" / "resnet-classifier" / "resnet-classifier"


def launch(command: list[str], env: dict[str, str], timeout: float = 600) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seconds = time.perf_counter() - start
    proc.wait(timeout=timeout)
    json.loads(line)  # a failed run prints no JSON: let it stop the measurement
    return seconds


def drop_page_cache() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def source_command() -> list[str]:
    """The installed launcher, as a user starts it; `python -m gui` where there is none."""
    script = Path(sys.executable).with_name("resnet-classifier")
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "gui"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cold", type=int, default=0, metavar="N", help="cold runs of each")
    parser.add_argument("--frozen", type=Path, default=FROZEN, help="e.g. the installed app")
    parser.add_argument(
        "--source-module",
        action="store_true",
        help="run the source as `python -m gui` from this checkout (when the venv's launcher "
        "belongs to another checkout)",
    )
    args = parser.parse_args(argv)

    import torch
    import torchvision

    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    source = [sys.executable, "-m", "gui"] if args.source_module else source_command()
    commands = {"source": source, "frozen": [str(args.frozen)]}
    rows: dict[str, dict[str, list[float]]] = {k: {"window": [], "predict": []} for k in commands}
    cold: dict[str, list[float]] = {k: [] for k in commands}

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "resnet50.pth"
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet50().state_dict(), checkpoint)
        predict_args = ["--self-test", "--weights", str(checkpoint), "--device", "cpu"]

        for _ in range(args.cold):
            for name, command in commands.items():
                if not drop_page_cache():
                    print("could not empty the page cache (needs root on Linux); no cold runs")
                    break
                cold[name].append(launch(command + predict_args, env))

        for command in commands.values():  # warm the file cache
            launch([*command, "--startup-probe"], env)
            launch(command + predict_args, env)
        for _ in range(args.runs):
            for name, command in commands.items():
                rows[name]["window"].append(launch([*command, "--startup-probe"], env))
                rows[name]["predict"].append(launch(command + predict_args, env))

    platform = env.get("QT_QPA_PLATFORM") or ("xcb" if env.get("DISPLAY") else "wayland")
    print(f"platform: {platform}; {args.runs} runs each, alternating; medians (min)\n")
    print(f"| | source (`{' '.join(source)}`) | frozen (`{args.frozen}`) | frozen / source |")
    print("|---|---|---|---|")
    for key, title in (("window", "time to window"), ("predict", "launch to first prediction")):
        s, f = (statistics.median(rows[k][key]) for k in ("source", "frozen"))
        smin, fmin = (min(rows[k][key]) for k in ("source", "frozen"))
        print(f"| {title} | {s:.2f} s ({smin:.2f}) | {f:.2f} s ({fmin:.2f}) | {f / s:.2f} |")
    if cold["source"] and cold["frozen"]:
        s, f = (statistics.median(cold[k]) for k in ("source", "frozen"))
        smin, fmin = (min(cold[k]) for k in ("source", "frozen"))
        print(
            f"| cold first prediction | {s:.2f} s ({smin:.2f}) | {f:.2f} s ({fmin:.2f}) | {f / s:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
