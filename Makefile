# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch build this project is tested with; override for another (e.g. CPU-only) build.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

# The frozen app and its Debian package (docs/installers.md).
BUNDLE := dist/resnet-classifier/resnet-classifier
BUNDLE_INPUTS := build_app.spec pyproject.toml $(shell find core gui -name '*.py') \
	packaging/launcher.py packaging/cli_launcher.py \
	$(shell find resources -type f -not -path 'resources/weights/*' -not -name '*.pyc' 2>/dev/null)
VERSION := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB := dist/resnet-classifier_$(VERSION)_$(DEB_ARCH).deb
# dpkg-deb's compressor:level; higher levels: a few per cent smaller, far slower (docs/installers.md).
DEB_COMPRESS ?= zstd:3
# Debian tools the installer targets use, installed when missing (CI runs as root on Debian).
DEB_TOOLS := dpkg-deb:dpkg desktop-file-validate:desktop-file-utils lintian:lintian
# What the tests read our files back with (exiftool reads the XMP keywords: tests/test_keywords.py).
TEST_TOOLS := exiftool:libimage-exiftool-perl

# The Windows app and installer, built here under Wine (docs/installers.md, "Windows").
WIN_BUNDLE := dist/windows/resnet-classifier/resnet-classifier.exe
WIN_SETUP := dist/ResNetClassifier-$(VERSION)-Setup.exe
WIN_SCRIPTS := $(wildcard packaging/windows/*.sh) packaging/windows/requirements.txt

.PHONY: install run test test-slow lint format bench package package-test installer installer-test \
	installer-lint deb-tools test-tools windows-package windows-installer windows-installer-test \
	windows-tools clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m gui $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint | test-tools
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

# Only the tests marked slow (the 3,000-image window soak, about 30 min); CI runs them after `test`.
test-slow: $(STAMP) | test-tools
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

# The one-folder app in dist/resnet-classifier/: the window and the CLI (README: "Install").
# Frozen again only when its sources change (`make -B package` forces it, e.g. for other weights).
package: $(BUNDLE)

$(BUNDLE): $(BUNDLE_INPUTS) | $(STAMP)
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --workpath build/pyinstaller --distpath dist build_app.spec
	@touch $@

# Builds, then runs the frozen app's --self-test offscreen with a generated checkpoint.
package-test: package
	$(PY) packaging/package_test.py

# dist/resnet-classifier_<version>_<arch>.deb from the bundle above (not frozen a second time).
installer: $(DEB)

$(DEB): $(BUNDLE) packaging/build_deb.py | deb-tools
	$(PY) packaging/build_deb.py --compress $(DEB_COMPRESS) --output $@

# Installs the .deb set (the app's, and NVIDIA's libraries' where the bundle has CUDA) with one
# apt-get (root), uses it from /usr/bin, purges it: CI runs this.
installer-test: $(DEB) | deb-tools
	$(PY) packaging/installer_test.py $$(ls dist/resnet-classifier*_$(VERSION)_$(DEB_ARCH).deb)

# What Debian's checker says of the package (docs/installers.md explains what it still reports).
installer-lint: $(DEB) | deb-tools
	lintian --no-tag-display-limit $(DEB) || true

# Each list is command:package; the packages of the missing commands are installed with apt-get.
install_missing = @missing="$(foreach t,$(1),$(if $(shell command -v $(word 1,$(subst :, ,$(t))) 2>/dev/null),,$(word 2,$(subst :, ,$(t)))))"; \
	if [ -n "$$(echo $$missing)" ]; then \
		echo "installing $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

deb-tools:
	$(call install_missing,$(DEB_TOOLS))

test-tools:
	$(call install_missing,$(TEST_TOOLS))

# dist/windows/resnet-classifier/: PyInstaller under Wine with a Windows python (first run:
# downloads ~700 MB into ~/.cache/resnet-classifier/windows, kept for later runs).
windows-package: $(WIN_BUNDLE)

$(WIN_BUNDLE): $(BUNDLE_INPUTS) $(WIN_SCRIPTS) | $(STAMP) windows-tools
	HOST_PYTHON=$(PY) packaging/windows/build.sh freeze
	@touch $@

# dist/ResNetClassifier-<version>-Setup.exe: NSIS around that folder (the release ships it).
windows-installer: $(WIN_SETUP)

$(WIN_SETUP): $(WIN_BUNDLE) packaging/windows/resnet-classifier.nsi
	HOST_PYTHON=$(PY) packaging/windows/build.sh installer

# Installs it under Wine in a fresh prefix, uses it, uninstalls it: CI runs this.
windows-installer-test: $(WIN_SETUP) | windows-tools
	$(PY) packaging/windows/setup_test.py $(WIN_SETUP)

# Debian's Wine 8.0 (64-bit), NSIS, the linker for two small DLLs of the Wine prefix
# (wine-prefix.sh), and the X tools the test's screen needs; installed when missing (root).
WIN_TOOLS := wine wine64 nsis binutils-mingw-w64-x86-64 xvfb xdotool x11-utils imagemagick \
	fonts-dejavu-core
windows-tools:
	@missing="$$(for p in $(WIN_TOOLS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)"; \
	if [ -n "$$(echo $$missing)" ]; then \
		echo "installing" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
	fi

clean:
	rm -rf build dist .pytest_cache .ruff_cache
