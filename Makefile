# MicroPulse: `make run` (set up + open the app on the demo warehouse), `make test`.
SHELL  := /bin/bash
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
WAREHOUSE ?= $(or $(MICROPULSE_WAREHOUSE),data/warehouse.duckdb)
PORT ?= 8501
PGDIR ?= .pg

.PHONY: setup warehouse run run-with-api run-postgres stop-postgres demo api test test-postgres test-browser bench dask-demo clean help

help:
	@echo "make run    - install, seed the demo warehouse (first time only), open the app"
	@echo "make demo   - the same in single-user demo mode (MICROPULSE_AUTH=off, no sign-in)"
	@echo "make run-with-api - the app plus the REST API in the same process (one warehouse)"
	@echo "make api    - the REST API on 127.0.0.1:$${MICROPULSE_API_PORT:-8000} (docs at /docs)"
	@echo "make run-postgres - the app on a local PostgreSQL server (started in $(PGDIR)/) with the demo"
	@echo "make test   - install and run every test (browser tests: make test-browser)"
	@echo "make test-postgres - the same test suite on a throwaway PostgreSQL server"
	@echo "make bench  - run the benchmark scripts and print their figures"
	@echo "make dask-demo - the demo forecast on a local Dask scheduler and two workers"

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned Python packages into $(VENV) (first time only; ~5 minutes on a 2-core laptop)..."
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -r requirements.txt \
	  | grep --line-buffered -E "^(Collecting|Installing|Successfully)" || test $${PIPESTATUS[0]} -eq 0
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)

# Seeds demo data only when the warehouse has no sales yet; never overwrites real data.
warehouse: setup
	@echo "Preparing the demo warehouse (first time only: seed, forecast, alerts, elasticities; ~2 minutes)..."
	MICROPULSE_WAREHOUSE=$(WAREHOUSE) $(PY) -m engine init --demo --ready
	$(PY) -m engine geo --cache || echo "warning: map shapes not built; the Map page builds them on first use"

run: warehouse
	MICROPULSE_WAREHOUSE=$(WAREHOUSE) $(PY) -m streamlit run app.py --server.port $(PORT)

demo: warehouse
	MICROPULSE_AUTH=off MICROPULSE_WAREHOUSE=$(WAREHOUSE) $(PY) -m streamlit run app.py --server.port $(PORT)

# The app and the REST API on one warehouse at once (DuckDB lets one process open the file
# read-write, so the API runs inside the app's process).
run-with-api: warehouse
	MICROPULSE_API_IN_APP=1 MICROPULSE_WAREHOUSE=$(WAREHOUSE) $(PY) -m streamlit run app.py --server.port $(PORT)

# The shared-database backend: a local PostgreSQL cluster in $(PGDIR)/ (Debian's postgresql
# package; initdb on first use), seeded with the demo once, and the app on it. Several app
# and API processes may run on it at once (MICROPULSE_DATABASE_URL, printed first).
run-postgres: setup
	@url=$$($(PY) -m engine.warehouse.pgserver start $(PGDIR)) || exit 1; \
	  echo "MICROPULSE_DATABASE_URL=$$url"; \
	  MICROPULSE_DATABASE_URL=$$url $(PY) -m engine init --demo --ready && \
	  { $(PY) -m engine geo --cache || echo "warning: map shapes not built; the Map page builds them on first use"; } && \
	  MICROPULSE_DATABASE_URL=$$url $(PY) -m streamlit run app.py --server.port $(PORT)

stop-postgres:
	$(PY) -m engine.warehouse.pgserver stop $(PGDIR)

api: warehouse
	MICROPULSE_WAREHOUSE=$(WAREHOUSE) $(PY) -m uvicorn api.main:app --host 127.0.0.1 --port $${MICROPULSE_API_PORT:-8000}

test: setup
	$(PY) -m pytest -q -m "not browser"

test-postgres: setup
	MICROPULSE_TEST_BACKEND=postgres $(PY) -m pytest -q -m "not browser" --timeout 600

test-browser: setup
	$(PY) -m pytest -q -m browser

bench: setup
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# A Dask scheduler and two workers as real processes on this machine (a scheduler file in a
# temp folder, random port), the demo forecast run on them, then all three stopped by PID.
dask-demo: warehouse
	@set -e; dir=$$(mktemp -d); pids=""; \
	trap 'kill $$pids 2>/dev/null || true; wait $$pids 2>/dev/null || true; rm -rf "$$dir"' EXIT; \
	PYTHONPATH="$(CURDIR)" $(VENV)/bin/dask scheduler --host 127.0.0.1 --port 0 --no-dashboard \
	  --scheduler-file "$$dir/scheduler.json" >"$$dir/scheduler.log" 2>&1 & pids="$$pids $$!"; \
	for t in $$(seq 120); do test -s "$$dir/scheduler.json" && break; sleep 0.5; done; \
	for i in 1 2; do \
	  PYTHONPATH="$(CURDIR)" $(VENV)/bin/dask worker --scheduler-file "$$dir/scheduler.json" \
	    --nworkers 1 --nthreads 1 --no-dashboard --name "micropulse-$$i" \
	    >"$$dir/worker$$i.log" 2>&1 & pids="$$pids $$!"; \
	done; \
	addr=$$($(PY) -c "import json,sys; print(json.load(open(sys.argv[1]))['address'])" \
	  "$$dir/scheduler.json"); \
	echo "Dask scheduler at $$addr, two workers (logs in $$dir)"; \
	MICROPULSE_DASK_SHARED_DIR="$$dir" MICROPULSE_WAREHOUSE=$(WAREHOUSE) \
	  $(PY) -m engine forecast --backend dask --scheduler "$$addr"

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
