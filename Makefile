# The two set-up commands: `make test` and `make demo`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision are pinned to a matching pair (torchvision's compiled ops must match torch).
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

.PHONY: test lint typecheck unit demo bench corpus-deps clean

$(BIN)/.installed: pyproject.toml Makefile .ci/system-deps.sh
	.ci/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]' $(TORCH_PINS)
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
	@if $(BIN)/python -c "from avpc_plugin.checkpoints import default_model as d; raise SystemExit(d() is None)"; then \
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
	AVPC_EXTRA_PACKAGES="fluid-soundfont-gm musescore-general-soundfont opl3-soundfont openclipart-svg fonts-symbola" .ci/system-deps.sh
	PYTHON=$(BIN)/python .ci/picture-deps.sh
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[data]' $(TORCH_PINS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
