#!/usr/bin/env bash
# Make a Wine prefix able to run the Windows python and the frozen app: wine-prefix.sh PREFIX
#
# Debian 12's Wine 8.0 lacks a few things a Windows 10 machine has. Each gap is filled here, in
# the prefix only (its system32 and registry); none of it is in the app or the installer:
#   1. no debugger on a crash: a crashing process just ends (winedbg can wait for ever);
#   2. Microsoft's ucrtbase.dll (from the dotnetcore2 wheel): Wine's lacks the C99 complex
#      functions (crealf, cabsf...) that numpy and torch_cpu.dll import;
#   3. an icuuc.dll that forwards to ICU 78 (from the icu4py wheel): Qt >= 6.10 imports Windows
#      10's system ICU, which Wine 8.0 does not have;
#   4. a mscms.dll whose colour-profile calls politely fail: Qt 6.12's windows plugin calls
#      WcsCreateIccProfile, a stub that aborts in Wine 8.0 (harmless for Qt 6.11);
#   5. Microsoft's MSVC runtime (shipped next to the app) preferred over Wine's own copies, with
#      which the frozen app corrupted its heap;
#   6. CPython's _wmi.pyd not loaded (Wine lacks propsys.VariantToString; without _wmi, Python's
#      platform module reads the registry instead, as it does on older Windows).
# A pass under Wine is not proof for every Windows version; see docs/installers.md.
set -euo pipefail
. "$(dirname "$0")/wine-env.sh"
export WINEPREFIX=${1:?usage: wine-prefix.sh PREFIX}
SHIMS=$WIN_CACHE/shims

build_shims() {
	[ -f "$SHIMS/ucrtbase.dll" ] && [ -f "$SHIMS/icuuc.dll" ] && [ -f "$SHIMS/mscms.dll" ] && return
	mkdir -p "$WIN_DOWNLOADS" "$SHIMS.tmp"
	command -v x86_64-w64-mingw32-ld >/dev/null || {
		echo "wine-prefix.sh: installing binutils-mingw-w64-x86-64 (links the two small DLLs)"
		apt-get install -y -q -o DPkg::Lock::Timeout=600 binutils-mingw-w64-x86-64 >/dev/null
	}
	local pick=(--no-deps --only-binary=:all: --platform win_amd64 -d "$WIN_DOWNLOADS")
	host_pip download -q "${pick[@]}" dotnetcore2==3.1.23
	host_pip download -q "${pick[@]}" --python-version 3.13 --implementation cp --abi cp313 \
		icu4py==1.2.0 pefile==2024.8.26
	unzip -qo -j "$WIN_DOWNLOADS"/dotnetcore2-3.1.23-py3-none-win_amd64.whl \
		'dotnetcore2/bin/shared/Microsoft.NETCore.App/3.1.23/ucrtbase.dll' -d "$SHIMS.tmp"
	unzip -qo -j "$WIN_DOWNLOADS"/icu4py-1.2.0-cp313-cp313-win_amd64.whl 'icu4py.libs/*.dll' \
		-d "$SHIMS.tmp"
	(
		cd "$SHIMS.tmp"
		# icuuc.dll: every unversioned ICU name forwarded to icuuc78's versioned export
		PYTHONPATH=$(ls "$WIN_DOWNLOADS"/pefile-*.whl) "$HOST_PYTHON" - <<-'PY'
			import glob, re, pefile
			uc = glob.glob("icuuc78*.dll")[0]
			pe = pefile.PE(uc, fast_load=True)
			pe.parse_data_directories(
			    directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"]])
			lines = ["LIBRARY icuuc.dll", "EXPORTS"]
			for s in pe.DIRECTORY_ENTRY_EXPORT.symbols:
			    n = s.name.decode() if s.name else ""
			    if re.fullmatch(r"[A-Za-z_]\w*_78", n):
			        lines.append(f"    {n[:-3]}={uc[:-4]}.{n}")
			open("icuuc.def", "w").write("\n".join(lines) + "\n")
		PY
		: >empty.s
		x86_64-w64-mingw32-as -o empty.o empty.s
		x86_64-w64-mingw32-ld --dll --entry=0 --no-insert-timestamp -o icuuc.dll empty.o icuuc.def
		# mscms.dll: the four functions Qt imports; no colour profile, no crash
		cat >mscms.s <<-'ASM'
			    .text
			    .globl OpenColorProfileW, GetColorProfileFromHandle, CloseColorProfile, WcsCreateIccProfile
			OpenColorProfileW:
			GetColorProfileFromHandle:
			WcsCreateIccProfile:
			    xorl %eax, %eax
			    ret
			CloseColorProfile:
			    movl $1, %eax
			    ret
		ASM
		printf 'LIBRARY mscms.dll\nEXPORTS\n    OpenColorProfileW\n    GetColorProfileFromHandle\n    CloseColorProfile\n    WcsCreateIccProfile\n' >mscms.def
		x86_64-w64-mingw32-as -o mscms.o mscms.s
		x86_64-w64-mingw32-ld --dll --entry=0 --no-insert-timestamp -o mscms.dll mscms.o mscms.def
		rm -f ./*.o ./*.s ./*.def
	)
	rm -rf "$SHIMS" && mv "$SHIMS.tmp" "$SHIMS"
}

reg_add() {
	wine_run 120 reg add "$@" /f >/dev/null
}

build_shims
mkdir -p "$WINEPREFIX"
log_step "wineboot $WINEPREFIX"
wine_run 600 wineboot -i >/dev/null
wine_wait 300
AEDEBUG='HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug'
reg_add "$AEDEBUG" /v Debugger /t REG_SZ /d no-such-debugger.exe
reg_add "$AEDEBUG" /v Auto /t REG_SZ /d 1
cp "$SHIMS"/*.dll "$WINEPREFIX/drive_c/windows/system32/"
OVERRIDES='HKCU\Software\Wine\DllOverrides'
for dll in ucrtbase mscms msvcp140 msvcp140_1 msvcp140_2 msvcp140_atomic_wait \
	msvcp140_codecvt_ids vcruntime140 vcruntime140_1 concrt140 vcomp140; do
	reg_add "$OVERRIDES" /v "$dll" /t REG_SZ /d native,builtin
done
reg_add "$OVERRIDES" /v _wmi.pyd /t REG_SZ /d ""
wine_wait 120
log_step "prefix ready: $WINEPREFIX"
