# One command runs every check; CI runs exactly `make check`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install check lint typecheck test demo bench clean

$(BIN)/tailguard: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/tailguard

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

test: install
	$(BIN)/pytest -q

check: lint typecheck test

demo: install
	$(BIN)/tailguard demo --areas 40 --weeks 2 --seed 7 --out tailguard-demo

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tailguard-demo
