PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
#: `make serve` needs only the runtime dependencies (not the test tools).
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: serve demo test lint fmt typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

serve: $(RUNTIME_STAMP)
	$(BIN)/relaywarden serve

demo: $(RUNTIME_STAMP)
	$(BIN)/relaywarden demo

lint: $(STAMP)
	$(BIN)/ruff check receiver handlers tests bench
	$(BIN)/ruff format --check receiver handlers tests bench

fmt: $(STAMP)
	$(BIN)/ruff check --fix receiver handlers tests bench
	$(BIN)/ruff format receiver handlers tests bench

typecheck: $(STAMP)
	$(BIN)/mypy receiver handlers tests

unit: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV)
