# The two set-up commands: `make test` and `make demo`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
# requirements.lock is the exact tested set (every package, with hashes) for CPython 3.11 on
# Linux x86-64: `make lock` compiles it from pyproject.toml with uv, pip installs it.
LOCK := requirements.lock
LOCK_PYTHON := 3.11
LOCK_PLATFORM := x86_64-manylinux_2_28
# The torch/torchvision pair the lock takes (torchvision's compiled ops must match torch).
TORCH_PAIR := torch==2.14.1 torchvision==0.29.1
UV_VERSION := 0.13.10

.PHONY: test lint typecheck unit demo bench corpus-deps lock test-latest clean

$(BIN)/.installed: $(LOCK) pyproject.toml Makefile .ci/system-deps.sh .ci/check-python.sh
	.ci/system-deps.sh
	.ci/check-python.sh $(PYTHON) $(LOCK_PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes --no-deps -r $(LOCK)
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

# ruff, and the import contract: one-way layers, no cycles (.ci/check_imports.py).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python .ci/check_imports.py

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# pytest exits 5 when it collects nothing: a suite that ran no test is a failure, said plainly.
unit: $(BIN)/.installed
	$(BIN)/pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; fi; exit $$rc

test: lint typecheck unit

# The demo: a 20 s synthetic duet separated by the registry's default model into demo-out/.
# Without a default model (e.g. an index emptied by hand) it says so and lists the nets.
demo: $(BIN)/.installed
	@if $(BIN)/python -c "from avpc_plugin.checkpoints.registry import default_model as d; raise SystemExit(d() is None)"; then \
		$(BIN)/avpc demo --out demo-out --overwrite; \
	else \
		echo "No default model is registered (models/index.json lists none): the demo needs one."; \
		echo "Run it with your own checkpoint: $(BIN)/avpc demo --model PATH.pt --out demo-out"; \
		$(BIN)/avpc nets list; \
	fi

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/nets.py

# The large train-set sources (soundfonts and pictures) for `avpc data synth --split train`:
# Debian soundfonts, Openclipart and Symbola; the npm picture sets (.ci/picture-deps.sh, into
# $AVPC_PICTURE_DIR or ~/.cache/avpc-plugin/pictures); OpenMoji and the rasteriser from PyPI.
corpus-deps: $(BIN)/.installed
	AVPC_EXTRA_PACKAGES="fluid-soundfont-gm musescore-general-soundfont opl3-soundfont fonts-symbola" .ci/system-deps.sh
	PYTHON=$(BIN)/python .ci/picture-deps.sh

# Recompile the lock from pyproject.toml (newest releases the ranges allow, torch pair fixed),
# with uv from a venv of its own; the lock file is replaced only when its text changes.
LOCK_TOOLS := .venv-lock
lock:
	test -x $(LOCK_TOOLS)/bin/uv || { $(PYTHON) -m venv $(LOCK_TOOLS) && \
		$(LOCK_TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); }
	printf '%s\n' $(TORCH_PAIR) > $(LOCK_TOOLS)/lock-constraints.txt
	$(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --extra test --extra data --quiet \
		--generate-hashes --python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
		--constraint $(LOCK_TOOLS)/lock-constraints.txt --custom-compile-command "make lock" \
		-o $(LOCK_TOOLS)/new.lock
	cmp -s $(LOCK_TOOLS)/new.lock $(LOCK) && echo "$(LOCK): unchanged" || \
		{ mv $(LOCK_TOOLS)/new.lock $(LOCK) && echo "$(LOCK): rewritten"; }

# The suite against the newest releases pyproject.toml's ranges allow, in a venv of its own:
# it first lists the packages that moved away from the lock, then runs what `make test` runs.
LATEST := .venv-latest
test-latest:
	.ci/system-deps.sh
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade -e '.[test,data]'
	touch $(LATEST)/bin/.installed
	$(LATEST)/bin/python .ci/lock_drift.py $(LOCK)
	$(MAKE) --no-print-directory lint typecheck unit BIN=$(LATEST)/bin VENV=$(LATEST) \
		--assume-old=$(LATEST)/bin/.installed

clean:
	rm -rf $(VENV) $(LATEST) $(LOCK_TOOLS) .mypy_cache .pytest_cache .ruff_cache
