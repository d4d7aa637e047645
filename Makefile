# The front door. `make demo` and `make test` work on a fresh machine: they create the
# virtual environment from requirements.lock first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DOUDIAN := $(VENV)/bin/doudian
DEMO ?= demo

.PHONY: help venv test lint format demo run docs lock bench clean

help:
	@echo "make demo   create the environment, generate demo exports, run the pipeline"
	@echo "make test   run the test suite"
	@echo "make lint   ruff check and format check"
	@echo "make docs   regenerate docs/cli.md and the README tables from the code"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

test: venv
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check pipeline schemas tests
	$(VENV)/bin/ruff format --check pipeline schemas tests

format: venv
	$(VENV)/bin/ruff format pipeline schemas tests

docs: venv
	$(PY) -m pipeline.cli.docs > docs/cli.md
	$(PY) -m pipeline.cli.docs readme

demo: venv
	$(DOUDIAN) fixtures --shops 3 --orders 20000 --seed 7 --out $(DEMO)/exports --per-shop
	@for kind in orders after-sales bill products costs commissions; do \
	  file=$$(echo $$kind | tr - _); \
	  $(DOUDIAN) validate $$kind $(DEMO)/exports/$$file.csv --out $(DEMO)/out; \
	  code=$$?; [ $$code -le 3 ] || exit $$code; echo; \
	done
	@for period in 2026-09-H2 2026-10-H1; do \
	  $(DOUDIAN) settle --period $$period --out $(DEMO)/out --xlsx \
	    --orders $(DEMO)/exports/orders.csv --after-sales $(DEMO)/exports/after_sales.csv \
	    --products $(DEMO)/exports/products.csv --commissions $(DEMO)/exports/commissions.csv; \
	  code=$$?; [ $$code -le 3 ] || exit $$code; echo; \
	done
	$(DOUDIAN) reconcile --statement $(DEMO)/out/settlement/2026-10-H1 --bill $(DEMO)/exports/bill.csv \
	  --bill $(DEMO)/exports/bill_refunds.csv --fund-flow $(DEMO)/exports/fund_flow.csv \
	  --account-flow $(DEMO)/exports/account_flow.csv --orders $(DEMO)/exports/orders.csv \
	  --after-sales $(DEMO)/exports/after_sales.csv --out $(DEMO)/out; code=$$?; [ $$code -le 3 ] || exit $$code
	@echo
	$(DOUDIAN) profit --statement $(DEMO)/out/settlement/2026-10-H1 --orders $(DEMO)/exports/orders.csv \
	  --costs $(DEMO)/exports/costs.csv --out $(DEMO)/out; code=$$?; [ $$code -le 3 ] || exit $$code
	@echo
	$(DOUDIAN) report --out $(DEMO)/out --period 2026-10-H1 --orders $(DEMO)/exports/orders.csv; \
	  code=$$?; [ $$code -le 3 ] || exit $$code
	@echo
	$(DOUDIAN) run --config fixtures/run/pipeline.toml --on 2026-11-01; code=$$?; [ $$code -le 3 ] || exit $$code
	@echo
	@echo "Demo exports: $(DEMO)/exports   Outputs: $(DEMO)/out (commands), $(DEMO)/run (doudian run)"
	@echo "Report: $(DEMO)/out/report/2026-10-H1/report.xlsx and report.html"

# The cron entry: `make run CONFIG=path/to/pipeline.toml [ON=YYYY-MM-DD]` (see README).
run: venv
	$(DOUDIAN) run --config $(CONFIG) $(if $(ON),--on $(ON),)

lock:
	rm -rf /tmp/doudian-lock && $(PYTHON) -m venv /tmp/doudian-lock
	/tmp/doudian-lock/bin/pip install --quiet -e '.[dev,bench,dask]'
	( echo '# Exact versions installed by `make` (pip install -r requirements.lock). Regenerate with `make lock`.'; \
	  /tmp/doudian-lock/bin/pip freeze --exclude-editable ) > requirements.lock

clean:
	rm -rf $(VENV) $(DEMO)

# Benchmarks: tests/bench/run_bench.py, against DuckDB, pandas and a polars floor.
# Data is generated once per rows+seed and cached in BENCH_DIR; results in BENCH_DIR/results.json.
# A small run: make bench BENCH_ROWS=200000; some jobs only: make bench BENCH_ONLY=settle,duckdb
BENCH_ROWS ?= 10000000
BENCH_LARGE_ROWS ?= 50000000
BENCH_DIR ?= bench
BENCH_REPEAT ?= 3
BENCH_SEED ?= 8
BENCH_ONLY ?=
BENCH_LARGE_ONLY ?= settle,duckdb
BENCH_ARGS = --repeat $(BENCH_REPEAT) --seed $(BENCH_SEED) --dir $(BENCH_DIR)

.PHONY: bench bench-large bench-shops

bench: venv
	$(PY) -m tests.bench.run_bench --rows $(BENCH_ROWS) $(BENCH_ARGS) $(if $(BENCH_ONLY),--only $(BENCH_ONLY))

bench-large: venv
	$(PY) -m tests.bench.run_bench --rows $(BENCH_LARGE_ROWS) $(BENCH_ARGS) --only $(BENCH_LARGE_ONLY)

# Many shops: `doudian run` with the local engine and the dask engine (1 and 2 workers).
BENCH_SHOPS ?= 1000
BENCH_SHOP_ROWS ?= 2000

bench-shops: venv
	$(PY) -m tests.bench.shops_bench --shops $(BENCH_SHOPS) --rows-per-shop $(BENCH_SHOP_ROWS) --dir $(BENCH_DIR)
