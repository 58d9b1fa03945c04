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

# The pinned requirements (the service's, the `embedded` extra's and the test tools'), then
# the package itself with its `embedded` extra (SecantusDB, the database used when
# MONGODB_URI is unset), already installed by the pins.
$(STAMP): $(BIN)/python requirements.txt requirements-embedded.txt requirements-dev.txt \
		setup.cfg setup.py
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e '.[embedded]'
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

## The chaos harness (tests/chaos/): three scheduler processes, two with skewed clocks, a
## database killed with kill -9 and restarted, a faulty network proxy, random kill -9s,
## and a history checker. `make chaos` runs 10 minutes (CHAOS_ARGS="--seed N" replays a
## plan) and prints a table per fault and one JSON line; `make chaos-ci` is CI's 60 s run.
## Needs gcc (the clock-skew shim is compiled at run time).
CHAOS_ARGS ?=
.PHONY: chaos chaos-ci
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos --duration 600 $(CHAOS_ARGS)

chaos-ci: $(STAMP)
	$(BIN)/python -m pytest -m chaos tests/chaos -s $(PYTEST_ARGS)

## The deployment as it runs (CI runs this after `make test`): nginx with deploy/nginx.conf
## -> gunicorn with deploy/gunicorn.conf.py and two workers -> the app, jobs firing at a
## local target, then schemathesis against a live server (tests/deploy, marker `deploy`).
## Installs Debian's nginx first if it is missing (root, or sudo).
.PHONY: deploy-test install-nginx
deploy-test: $(STAMP) install-nginx
	$(BIN)/python -m pytest -m deploy tests/deploy $(PYTEST_ARGS)

install-nginx:
	@if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then exit 0; fi; \
	sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	$$sudo apt-get update -qq; \
	pkg=nginx; \
	if apt-cache policy nginx-light | grep -q 'Candidate: [0-9]'; then pkg=nginx-light; fi; \
	echo "installing Debian's $$pkg"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkg

## The dashboard end to end (CI runs this after `make test`): a real headless Chromium
## (Debian's chromium + chromium-driver, through Selenium) against gunicorn and a local
## target; screenshots at 1280 and 390 px land in tests/e2e/screenshots/ (marker `e2e`).
## Installs Debian's chromium and chromium-driver first if they are missing (root, or sudo).
.PHONY: e2e install-chromium
e2e: $(STAMP) install-chromium
	$(BIN)/python -m pytest -m e2e tests/e2e $(PYTEST_ARGS)

install-chromium:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi; \
	sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	$$sudo apt-get update -qq; \
	echo "installing Debian's chromium and chromium-driver"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

## Benchmarks (bench/): issue 19's burst against APScheduler 3 (MongoDBJobStore and memory
## store), light/multi-process/heavy lateness, ceiling, throughput, scale and API, in about
## 14 minutes; `make bench BENCH_ARGS=--quick` for issue 19's sections in ~3 minutes,
## BENCH_ARGS="--only burst" for one. Bench-only tools (bench/requirements.txt) are
## installed here, never with the service.
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## GET /api/jobs with each filter (tag, enabled, q, sort) at 100,000 jobs on a fresh embedded
## server, and the index each query uses (bench/list_filters.py; a few minutes, most of it
## seeding). BENCH_LIST_ARGS="--jobs 20000" for a quicker run.
BENCH_LIST_ARGS ?=
.PHONY: bench-list
bench-list: $(STAMP)
	$(BIN)/python -m bench.list_filters $(BENCH_LIST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
