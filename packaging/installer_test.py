"""Install the .deb set as a user would, use it from /usr/bin, then purge it: `make installer-test`.

    sudo python packaging/installer_test.py dist/resnet-classifier*_0.1.0_amd64.deb

The set is one .deb for a CPU torch bundle, or the app's and NVIDIA's libraries' packages for a
CUDA one (packaging/build_deb.py); each must fit GitHub's 2 GiB limit per release file, and one
`apt-get install` of them all must work (the app's package depends on the others).

Needs root (apt-get). From a temporary folder outside the checkout and a bare environment
(`env -i HOME=... PATH=/usr/bin:/bin`, no display, no network for weights), it checks that:
the window's `--self-test` classifies with a generated checkpoint; `resnet-classify` classifies
an image the same way (and as the source does); a second `resnet-classifier photo.jpg` hands the
photo to a running window and exits; the desktop entry is valid and offered for JPEG and PNG;
the icons are in place. Then `apt-get purge` must leave none of the package's files. The purge
runs even when a check fails or the run is interrupted. Exit 0 when every check passes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "resnet-classifier"
DESKTOP = Path("/usr/share/applications") / f"{PACKAGE}.desktop"
MIME_CACHE = Path("/usr/share/applications/mimeinfo.cache")


class Checks:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, ok: bool, what: str, detail: str = "") -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            self.failures.append(what)
            if detail:
                print(detail.rstrip()[-3000:], flush=True)
        return ok


def timed(cmd: list[str], **kwargs) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    return done, time.perf_counter() - start


def bare_env(home: Path, **extra: str) -> dict[str, str]:
    """What `env -i HOME=... PATH=/usr/bin:/bin` leaves: no display, no venv, no cache."""
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", **extra}


GITHUB_LIMIT = 2 * 2**30  # bytes per release file


def installed_files(packages: list[str]) -> list[Path]:
    done = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True, check=True)
    return [Path(line) for line in done.stdout.splitlines() if line.startswith("/")]


def package_name(deb: Path) -> str:
    done = subprocess.run(
        ["dpkg-deb", "--field", str(deb), "Package"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def predictions(stdout: str) -> list[dict]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])["predictions"]


def same(a: list[dict], b: list[dict]) -> bool:
    return [p["index"] for p in a] == [p["index"] for p in b] and all(
        abs(x["probability"] - y["probability"]) < 1e-4 for x, y in zip(a, b, strict=True)
    )


def make_checkpoint(path: Path) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50().state_dict(), path)


def check_installed(check: Checks, tmp: Path, timeout: float) -> None:
    home = tmp / "home"
    home.mkdir()
    checkpoint = tmp / "resnet50-random.pth"
    make_checkpoint(checkpoint)
    photo = tmp / "photo.jpg"
    photo.write_bytes((ROOT / "resources" / "sample.jpg").read_bytes())
    env = bare_env(home)
    run = {"cwd": tmp, "env": env, "timeout": timeout}

    for program in ("resnet-classifier", "resnet-classify"):
        target = Path("/usr/bin", program).resolve()
        check(target == Path("/opt", PACKAGE, program), f"/usr/bin/{program} -> {target}")

    window, seconds = timed(
        ["resnet-classifier", "--self-test", "--weights", str(checkpoint)], **run
    )
    print(f"     resnet-classifier --self-test: exit {window.returncode} in {seconds:.1f} s")
    check(window.returncode == 0, "the installed window classifies (--self-test)", window.stderr)

    cli, seconds = timed(
        ["resnet-classify", "--weights", str(checkpoint), "--format", "json", photo.name], **run
    )
    print(f"     resnet-classify photo.jpg: exit {cli.returncode} in {seconds:.1f} s")
    check(cli.returncode == 0, "the installed resnet-classify classifies a photo", cli.stderr)

    source_cmd = [sys.executable, "-m", "core", "--weights", str(checkpoint), "--format", "json"]
    source = subprocess.run(
        [*source_cmd, str(photo)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if window.returncode == cli.returncode == source.returncode == 0:
        top5 = predictions(source.stdout)
        check(same(predictions(cli.stdout), top5), "resnet-classify's top-5 equals the source's")
        check(same(predictions(window.stdout), top5), "the window's top-5 equals the source's")
        print(f"     top-1: {top5[0]}")

    check_hand_over(check, tmp, home, checkpoint, photo, timeout)

    valid = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    check(
        valid.returncode == 0 and not valid.stdout.strip(),
        "the installed desktop entry is valid",
        valid.stdout + valid.stderr,
    )
    cache = MIME_CACHE.read_text(encoding="utf-8") if MIME_CACHE.is_file() else ""
    for mime in ("image/jpeg", "image/png"):
        offered = any(
            line.startswith(f"{mime}=") and f"{PACKAGE}.desktop" in line
            for line in cache.splitlines()
        )
        check(offered, f"file managers offer it for {mime} (mimeinfo.cache)")
    icons = list(Path("/usr/share/icons/hicolor").glob(f"*/apps/{PACKAGE}.png"))
    check(len(icons) >= 4, f"{len(icons)} hicolor icons installed")


def check_hand_over(
    check: Checks, tmp: Path, home: Path, checkpoint: Path, photo: Path, timeout: float
) -> None:
    """A running window (offscreen here) takes a second launch's photo; the launch leaves."""
    name = str(tmp / "instance.sock")
    env = bare_env(home, QT_QPA_PLATFORM="offscreen", RESNET_CLASSIFIER_INSTANCE=name)
    log = tmp / "first.log"
    with log.open("w") as out:
        first = subprocess.Popen(
            ["resnet-classifier", "--verbose", "--weights", str(checkpoint)],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while not Path(name).exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not check(Path(name).exists(), "the first window listens for later launches"):
            return
        second, seconds = timed(["resnet-classifier", photo.name], cwd=tmp, env=env, timeout=60)
        print(f"     second launch: exit {second.returncode} in {seconds:.2f} s")
        check(second.returncode == 0, "a second launch hands its photo over and exits")
        while "handed over 1 file" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        check("handed over 1 file" in log.read_text(), "the open window received the photo")
        check(first.poll() is None, "the first window is still open")
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGTERM)
            first.wait(timeout=30)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("debs", type=Path, nargs="+", help="the app's .deb and its companions")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("installer-test: needs root (apt-get install)", file=sys.stderr)
        return 2
    debs = [deb.resolve() for deb in args.debs]
    packages = [package_name(deb) for deb in debs]
    check = Checks()
    check(PACKAGE in packages, f"the set holds the app's package ({', '.join(packages)})")
    for deb in debs:
        size = deb.stat().st_size
        check(
            size < GITHUB_LIMIT,
            f"{deb.name}: {size / 2**30:.2f} GiB, under GitHub's 2 GiB limit per release file",
        )
    signal.signal(signal.SIGTERM, _interrupted)  # a cancelled CI job purges too, as Ctrl-C does

    apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    names = " ".join(deb.name for deb in debs)
    done, seconds = timed(["apt-get", "install", "-y", "-q", *map(str, debs)], env=apt_env)
    print(f"     apt-get install: exit {done.returncode} in {seconds:.0f} s", flush=True)
    files: list[Path] = []
    try:
        if not check(
            done.returncode == 0, f"one apt-get install of {names}", done.stdout + done.stderr
        ):
            return 1
        files = installed_files(packages)
        with tempfile.TemporaryDirectory(prefix="installer-test-") as tmp:
            check_installed(check, Path(tmp), args.timeout)
    finally:
        done, seconds = timed(["apt-get", "purge", "-y", "-q", *packages], env=apt_env)
        print(f"     apt-get purge: exit {done.returncode} in {seconds:.0f} s", flush=True)
        check(
            done.returncode == 0, f"apt-get purge {' '.join(packages)}", done.stdout + done.stderr
        )
        left = [f for f in files if (f.is_symlink() or f.is_file())]
        left += [d for d in (Path("/opt", PACKAGE), Path("/usr/share/doc", PACKAGE)) if d.exists()]
        check(not left, "purge leaves none of the package's files", "\n".join(map(str, left[:20])))

    if check.failures:
        print(f"installer-test: {len(check.failures)} check(s) failed", file=sys.stderr)
        return 1
    print("installer-test: installed, used from /usr/bin and purged cleanly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
