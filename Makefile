# One command runs every check; CI runs exactly `make check` (then `make test-future`).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Parallel workers for the test suite (pytest-xdist); the machines have 2 cores.
WORKERS ?= 2

.PHONY: help install servers check lint typecheck test test-fast test-future demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Stamps rather than $(BIN)/tailguard: `make demo` installs tailguard alone into the same venv,
# and a later `make check` must still install the dev tools.
$(VENV)/.dev: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.dev  ## create .venv and install tailguard with its dev tools

# tailguard alone (no dev tools, no LLM SDKs, no OTLP exporter): what `make demo` needs.
$(VENV)/.runtime: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	@touch $@

lint: install  ## ruff format check and lint, import-linter contracts (pyproject.toml)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

typecheck: install  ## mypy --strict
	$(BIN)/mypy

servers:  ## start PostgreSQL, Redis and NATS if they are not up (docker compose or local binaries)
	@bash .ci/servers

test: install servers  ## the whole suite (real PostgreSQL, Redis, NATS and Chromium), in parallel
	$(BIN)/pytest -q -n $(WORKERS) --durations=15

check: lint typecheck test  ## what CI runs: lint, types, the whole suite

test-fast:  install  ## the quick loop: no servers, no browser, no slow tests, in parallel
	$(BIN)/pytest -q -n $(WORKERS) --durations=10 \
		-m "not postgres and not redis and not nats and not browser and not slow"

# The year-ahead run leaves out what only repeats the same code over another backend (the
# PostgreSQL, Redis and NATS variants) and the tests marked slow; FUTURE_MARKERS= runs it all.
FUTURE_MARKERS ?= not postgres and not redis and not nats and not slow

test-future: install servers  ## the suite with the clock moved a year ahead (time-machine)
	TAILGUARD_TEST_CLOCK_AHEAD_DAYS=365 $(BIN)/pytest -q -n $(WORKERS) --durations=5 \
		-m "$(FUTURE_MARKERS)"

demo: $(VENV)/.runtime  ## install tailguard alone, then a 40-area, 2-week demo into tailguard-demo/
	$(BIN)/tailguard demo --areas 40 --weeks 2 --seed 7 --out tailguard-demo

bench: install  ## every benchmark with its baseline (docs/performance.md)
	$(BIN)/python bench/run_all.py

clean:  ## remove the venv, caches and the demo output
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tailguard-demo
