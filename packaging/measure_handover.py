"""How fast a second launch hands its photo to the open window (docs/installers.md).

    python packaging/measure_handover.py [--app /usr/bin/resnet-classifier] [--runs 7]

Starts the app once (`--weights` a generated checkpoint, `--verbose`), waits until it listens,
then launches `APP photo.jpg` RUNS times, timing each launch from spawn to exit (it exits once
the window has taken the file) and to the window's log line saying it received the file.
Without --app it runs the source (`python -m gui`). Uses $DISPLAY if set, else offscreen.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", help="the program to start (default: python -m gui)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    command = [args.app] if args.app else [sys.executable, "-m", "gui"]

    import torch
    import torchvision

    with tempfile.TemporaryDirectory(prefix="handover-") as tmp_name:
        tmp = Path(tmp_name)
        checkpoint = tmp / "resnet50.pth"
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet50().state_dict(), checkpoint)
        photo = tmp / "photo.jpg"
        photo.write_bytes((ROOT / "resources" / "sample.jpg").read_bytes())
        env = dict(os.environ, RESNET_CLASSIFIER_INSTANCE=str(tmp / "instance.sock"))
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            env["QT_QPA_PLATFORM"] = "offscreen"
        log = tmp / "first.log"
        with log.open("w") as out:
            first = subprocess.Popen(
                [*command, "--verbose", "--weights", str(checkpoint)],
                cwd=ROOT if not args.app else tmp,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            while not (tmp / "instance.sock").exists():
                if first.poll() is not None:
                    print(log.read_text(), file=sys.stderr)
                    return 1
                time.sleep(0.01)
            time.sleep(3)  # let the first window load its model: we time the hand-over alone
            to_exit: list[float] = []
            to_window: list[float] = []
            for run in range(1, args.runs + 1):
                start = time.perf_counter()
                second = subprocess.run(
                    [*command, str(photo)], cwd=ROOT, env=env, capture_output=True, text=True
                )
                to_exit.append(time.perf_counter() - start)
                if second.returncode != 0:
                    print(second.stderr, file=sys.stderr)
                    return 1
                while log.read_text().count("handed over 1 file") < run:
                    if time.perf_counter() - start > 30:
                        print("the window never logged the file", file=sys.stderr)
                        return 1
                    time.sleep(0.005)
                to_window.append(time.perf_counter() - start)
                time.sleep(1)  # the window classifies the photo; keep runs apart
            platform = env.get("QT_QPA_PLATFORM") or "xcb"
            print(
                f"{' '.join(command)} ({platform}), {args.runs} second launches: median (min, max)"
            )
            for name, values in (("launch to exit", to_exit), ("launch to window", to_window)):
                print(
                    f"  {name}: {statistics.median(values):.3f} s "
                    f"({min(values):.3f}, {max(values):.3f})"
                )
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGTERM)
                first.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
