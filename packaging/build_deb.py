"""Build the Debian package from the frozen bundle: `make installer` (docs/installers.md).

    python packaging/build_deb.py [--dist dist/resnet-classifier] [--compress zstd:3]

Lays out the package in build/deb/root (the bundle is hard-linked, not copied: it is ~4 GB),
writes DEBIAN/control with Installed-Size from `du -sk`, and runs
`dpkg-deb --root-owner-group`. Prints the size and the seconds compression took.

    /opt/resnet-classifier/                the bundle: both programs and _internal/
    /usr/bin/resnet-classifier             -> the window;  /usr/bin/resnet-classify -> the CLI
    /usr/share/applications/resnet-classifier.desktop, hicolor icons, doc/copyright

A bundle frozen with PyPI's CUDA torch also holds NVIDIA's libraries (3.5 GB of its 5.5 GB):
one package of it all would be over GitHub's 2 GiB limit per release file. Those libraries then
go into packages of their own (NVIDIA_PACKAGES), each under 2 GiB even uncompressed, installed
into the same folders; the app's package depends on them at its exact version, so one
`apt install ./resnet-classifier*_<version>_amd64.deb` installs the set. A CPU torch bundle
(the release workflow's) has no _internal/nvidia/ and makes the one package.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "resnet-classifier"
PROGRAMS = ("resnet-classifier", "resnet-classify")  # the window, the command line
DEFAULT_COMPRESS = "zstd:3"  # docs/installers.md: higher levels and xz measured against it
GITHUB_LIMIT = 2 * 2**30  # bytes per release file
# NVIDIA's libraries, wherever PyInstaller put them in _internal/ (beside libtorch_cuda.so, or
# under nvidia/ for those torch opens by name), by package; the first pattern that matches wins,
# and whatever else is under nvidia/ goes to the last package. Each set is under 2 GiB even
# uncompressed (1.6 and 1.9 GB for torch 2.14's CUDA 13 wheels).
NVIDIA_PACKAGES = {
    f"{PACKAGE}-cudnn": r"lib(cudnn|cusparseLt|nccl|nvshmem)[^/]*$",
    f"{PACKAGE}-cuda": r"lib(cublas|cudart|cufft|cufile|cupti|curand|cusolver|cusparse|nvJitLink"
    r"|nvjpeg|nvrtc|nvToolsExt|nvperf)[^/]*$",
}
NVIDIA_DESCRIPTION = """\
Description: NVIDIA libraries for ResNet Classifier ({what})
 The NVIDIA CUDA libraries that the PyTorch inside resnet-classifier was built
 with, redistributed from the PyTorch wheels under NVIDIA's licence. They live
 in /opt/resnet-classifier/_internal/nvidia and serve only that app; they
 are in packages of their own to keep each download under 2 GiB.
"""

# What the bundle loads from the system rather than from _internal/. PyInstaller copies most of
# Qt's X11 libraries from the build machine (libxcb-cursor, libxkbcommon, libX11, glib...) but
# not libxcb itself, nor OpenGL (libGL, libEGL: the user's driver must provide them), and it
# copies libxcb-icccm and libxcb-keysyms only where the build machine has them (a fresh Debian
# does not). Found with
# `readelf -d` over every ELF file of the bundle, then checked by running the installed app on
# a bare Debian 12 (debootstrap --variant=minbase): docs/installers.md. libc6 >= 2.36: the
# newest glibc symbol version the bundled libraries need (GLIBC_2.36, from Debian 12's own
# libraries); libfontconfig1 brings /etc/fonts and a font, without which Qt draws no text.
DEPENDS = [
    "libc6 (>= 2.36)",
    "libgl1",
    "libegl1",
    "libxcb1",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libfontconfig1",
]
# Wanted, not needed: the file manager's "Open with" list is rebuilt by desktop-file-utils'
# trigger, the icon cache by hicolor-icon-theme's; Qt's Wayland plugin needs libwayland (on X11,
# and where it is missing, Qt falls back to xcb).
RECOMMENDS = [
    "desktop-file-utils",
    "hicolor-icon-theme",
    "libwayland-client0",
    "libwayland-cursor0",
]

DESCRIPTION = """\
Description: desktop image classifier (ResNet50, ImageNet top-5)
 Drop a photo on the window and see what is in it: the top-5 ImageNet
 predictions of ResNet50, each with its confidence, and a heat map of where
 the model looked. Folders are classified into a sortable table that exports
 to CSV. The resnet-classify command does the same for scripts.
 .
 The package is self-contained: Python, PyTorch and Qt live in
 /opt/resnet-classifier. It runs on the CPU; a build with CUDA also runs on an
 NVIDIA GPU when the driver is installed, and then depends on packages with
 NVIDIA's libraries.
"""

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: resnet-classifier
Comment: The files under /opt/resnet-classifier/_internal/ are the Python
 interpreter and libraries the app was frozen with by PyInstaller; each keeps
 its own licence there (the *.dist-info folders hold the texts).

Files: *
Copyright: 2025-2026 the ResNet Classifier authors
License: BSD-3-Clause

Files: opt/resnet-classifier/_internal/torch/* opt/resnet-classifier/_internal/torchvision/*
Copyright: Facebook, Inc. and its affiliates, and the PyTorch contributors
License: BSD-3-Clause

Files: opt/resnet-classifier/_internal/PySide6/* opt/resnet-classifier/_internal/shiboken6/*
Copyright: The Qt Company Ltd.
License: LGPL-3.0-only

Files: opt/resnet-classifier/_internal/nvidia/*
Copyright: NVIDIA Corporation
License: NVIDIA-CUDA-EULA
 Redistributed as part of the PyTorch wheels; see the licence files in the
 nvidia_*.dist-info folders.

Files: opt/resnet-classifier/_internal/lib*python3* opt/resnet-classifier/_internal/base_library.zip
Copyright: Python Software Foundation
License: PSF-2.0

License: BSD-3-Clause
 Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the following conditions are met:
 .
 1. Redistributions of source code must retain the above copyright notice,
 this list of conditions and the following disclaimer.
 .
 2. Redistributions in binary form must reproduce the above copyright notice,
 this list of conditions and the following disclaimer in the documentation
 and/or other materials provided with the distribution.
 .
 3. Neither the name of the copyright holder nor the names of its contributors
 may be used to endorse or promote products derived from this software without
 specific prior written permission.
 .
 THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
 AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
 IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
 DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
 FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
 DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
 SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
 CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
 OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
 OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

License: LGPL-3.0-only
 On Debian systems, the full text of the GNU Lesser General Public License
 version 3 can be found in /usr/share/common-licenses/LGPL-3.

License: PSF-2.0
 See /opt/resnet-classifier/_internal/ for the Python licence text.

License: NVIDIA-CUDA-EULA
 See https://docs.nvidia.com/cuda/eula/ and the nvidia_*.dist-info folders.
"""


def version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE).group(1)


def architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
    ).stdout.strip()


def stage(bundle: Path, root: Path, ver: str) -> None:
    """The package's file tree; the bundle hard-linked into opt/ (same disk, no 4 GB copy)."""
    if root.exists():
        shutil.rmtree(root)
    opt = root / "opt" / PACKAGE
    opt.parent.mkdir(parents=True)
    try:
        subprocess.run(["cp", "-al", str(bundle), str(opt)], check=True)
    except subprocess.CalledProcessError:  # another file system: copy
        shutil.copytree(bundle, opt, symlinks=True)
    for program in PROGRAMS:
        if not (opt / program).is_file():
            sys.exit(f"build_deb: {bundle / program} is missing; run `make package` first")
        link = root / "usr" / "bin" / program
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"/opt/{PACKAGE}/{program}")

    share = root / "usr" / "share"
    install(
        ROOT / "resources" / f"{PACKAGE}.desktop", share / "applications" / f"{PACKAGE}.desktop"
    )
    icons = ROOT / "resources" / "icons" / "hicolor"
    for icon in sorted(icons.glob(f"*/apps/{PACKAGE}.png")):
        install(icon, share / "icons" / "hicolor" / icon.relative_to(icons))
    doc = share / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT, encoding="utf-8")
    write_changelog(doc, PACKAGE, ver)
    fix_modes(root)


def write_changelog(doc: Path, package: str, ver: str) -> None:
    changelog = (
        f"{package} ({ver}) unstable; urgency=medium\n\n"
        f"  * Release {ver}: see the project's README.\n\n"
        f" -- {maintainer()}  {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(0))}\n"
    )
    with gzip.GzipFile(doc / "changelog.gz", "wb", compresslevel=9, mtime=0) as f:
        f.write(changelog.encode())


def fix_modes(root: Path) -> None:
    # Debian's modes: directories and programs 0755, everything else (libraries too) 0644.
    # (The bundle's files are hard links to dist/: the same modes apply there, harmlessly.)
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        program = mode & 0o111 and ".so" not in path.name  # libraries are loaded, not run
        wanted = 0o755 if path.is_dir() or program else 0o644
        if mode != wanted:
            path.chmod(wanted)


def install(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def maintainer() -> str:
    """Set DEB_MAINTAINER for a release; the default's address is a placeholder (.invalid)."""
    return os.environ.get(
        "DEB_MAINTAINER", "ResNet Classifier developers <maintainers@resnet-classifier.invalid>"
    )


def installed_kb(root: Path) -> int:
    done = subprocess.run(["du", "-sk", str(root)], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[0])


def write_control(
    root: Path,
    ver: str,
    arch: str,
    package: str = PACKAGE,
    depends: list[str] = DEPENDS,
    description: str = DESCRIPTION,
) -> None:
    control = (
        f"Package: {package}\n"
        f"Version: {ver}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {maintainer()}\n"
        f"Installed-Size: {installed_kb(root)}\n"
        + (f"Depends: {', '.join(depends)}\n" if depends else "")
        + (f"Recommends: {', '.join(RECOMMENDS)}\n" if package == PACKAGE else "")
        + "Section: graphics\n"
        "Priority: optional\n"
        f"{description}"
    )
    debian = root / "DEBIAN"
    debian.mkdir(mode=0o755)
    (debian / "control").write_text(control, encoding="utf-8")
    # What `dpkg --verify` checks the installed files against.
    sums = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(root)
        if relative.parts[0] != "DEBIAN":
            digest = hashlib.md5(usedforsecurity=False)
            with path.open("rb") as f:
                for block in iter(lambda f=f: f.read(1 << 20), b""):
                    digest.update(block)
            sums.append(f"{digest.hexdigest()}  {relative.as_posix()}\n")
    (debian / "md5sums").write_text("".join(sums), encoding="utf-8")


def split_nvidia(root: Path, stage_dir: Path, ver: str) -> list[tuple[str, Path]]:
    """Move NVIDIA's libraries into the NVIDIA_PACKAGES' trees; [(package, its root)]."""
    internal = root / "opt" / PACKAGE / "_internal"
    for name in NVIDIA_PACKAGES:  # what an earlier build left
        if (stage_dir / name).exists():
            shutil.rmtree(stage_dir / name)
    patterns = [(name, re.compile(pattern)) for name, pattern in NVIDIA_PACKAGES.items()]
    last = patterns[-1][0]
    made: dict[str, Path] = {}
    for path in sorted(internal.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        relative = path.relative_to(internal).as_posix()
        name = next((n for n, pattern in patterns if pattern.search(relative)), None)
        if name is None and relative.startswith("nvidia/"):
            name = last
        if name is None:
            continue
        dest = stage_dir / name / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        path.rename(dest)  # same file system: the hard link moves, nothing is copied
        made[name] = stage_dir / name
    for folder in sorted(internal.rglob("*"), reverse=True):  # folders the move emptied
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()
    for name, pkg_root in made.items():
        doc = pkg_root / "usr" / "share" / "doc" / name
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(COPYRIGHT, encoding="utf-8")
        write_changelog(doc, name, ver)
        fix_modes(pkg_root)
        print(f"{name}: {installed_kb(pkg_root) / 2**20:.2f} GiB uncompressed", flush=True)
    return sorted(made.items())


def build(root: Path, out: Path, compress: str) -> float:
    fmt, _, level = compress.partition(":")
    cmd = ["dpkg-deb", "--root-owner-group", f"-Z{fmt}"]
    if level:
        cmd.append(f"-z{level}")
    cmd += ["--build", str(root), str(out)]
    print(" ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / PACKAGE)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "dist")
    parser.add_argument("--stage", type=Path, default=ROOT / "build" / "deb")
    parser.add_argument(
        "--compress",
        default=os.environ.get("DEB_COMPRESS", DEFAULT_COMPRESS),
        help="dpkg-deb's compressor and level, e.g. zstd:19, zstd:3, xz:6, none "
        "(default: %(default)s)",
    )
    parser.add_argument("--output", type=Path, help="the .deb's path (default: Debian's name)")
    args = parser.parse_args(argv)

    ver, arch = version(), architecture()
    root = args.stage / "root"
    stage(args.dist.resolve(), root, ver)
    libs = split_nvidia(root, args.stage, ver)
    out = args.output or args.out_dir / f"{PACKAGE}_{ver}_{arch}.deb"
    out.parent.mkdir(parents=True, exist_ok=True)
    depends = DEPENDS + [f"{name} (= {ver})" for name, _ in libs]
    write_control(root, ver, arch, depends=depends)
    packages = [(root, out)]
    for name, pkg_root in libs:
        what = "cuDNN, NCCL, cuSPARSELt" if name.endswith("cudnn") else "CUDA runtime, cuBLAS"
        description = NVIDIA_DESCRIPTION.format(what=what)
        write_control(pkg_root, ver, arch, package=name, depends=[], description=description)
        packages.append((pkg_root, out.parent / f"{name}_{ver}_{arch}.deb"))
    for name in NVIDIA_PACKAGES:  # a CPU build after a CUDA one: no stale companions
        stale = out.parent / f"{name}_{ver}_{arch}.deb"
        if name not in dict(libs) and stale.exists():
            stale.unlink()
    over = False
    for pkg_root, deb in packages:
        seconds = build(pkg_root, deb, args.compress)
        size = deb.stat().st_size
        print(
            f"{deb}: {size:,} bytes ({size / 2**30:.2f} GiB) with {args.compress} in {seconds:.0f} s"
        )
        if size >= GITHUB_LIMIT:
            print(f"note: {deb.name} is over GitHub's 2 GiB limit for a release file")
            over = True
        shutil.rmtree(pkg_root)  # only links and small files; dist/ keeps the bundle
    if libs:
        names = " ".join(f"./{deb.name}" for _, deb in packages)
        print(f"install the set with one command: sudo apt install {names}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
