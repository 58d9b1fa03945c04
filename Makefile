# Two commands for a newcomer: `make run` and `make test`. Each creates .venv and installs
# what it needs on first use; nothing beyond Python 3.11+ is required.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test test-unit test-integration lint bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt setup.cfg setup.py
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Serve the API and the scheduler on $PORT (default 3000) with gunicorn. With MONGODB_URI
## unset the embedded database is started and its data kept under ./data.
run: $(STAMP)
	$(BIN)/gunicorn -c deploy/gunicorn.conf.py wsgi:app

## The whole test suite: unit (mongomock), integration (real wire server, real HTTP target)
## and fault tests (real processes). The suite starts the embedded database itself.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

## Benchmarks (bench/): ceiling, throughput, lag, scale, API and the APScheduler peer, in
## under 10 minutes; `make bench BENCH_ARGS=--quick` for a ~2-minute smoke run. Bench-only
## tools (bench/requirements.txt) are installed here, never with the service.
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
