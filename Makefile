# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch build this project is tested with; override for another (e.g. CPU-only) build.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench package package-test clean

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

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

# The one-folder app in dist/resnet-classifier/ (README: "Build the installer").
package: $(STAMP)
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --workpath build/pyinstaller --distpath dist build_app.spec

# Builds, then runs the frozen app's --self-test offscreen with a generated checkpoint.
package-test: package
	$(PY) packaging/package_test.py

clean:
	rm -rf build dist .pytest_cache .ruff_cache
