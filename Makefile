# source-cart: everything a developer or CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test spec clean demo

install: $(BIN)/source-cart

# One venv for everything: the connector, its tests, what the sandbox needs and the demo's
# PyAirbyte (an extra, never a dependency of the connector; the tests prove PyAirbyte runs it).
# The sandbox, bench and scripts run from this checkout; the connector's wheel holds source_cart/ only.
$(BIN)/source-cart: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"
	touch $@

# Unit tests (mocked HTTP, the CDK's standard suite, the CLI) and end-to-end tests against the
# sandbox (the installed command, the runner, PyAirbyte).
test: install
	$(BIN)/python -m pytest -q

# Print the connector's spec: a quick proof that the installed command works.
spec: install
	$(BIN)/source-cart spec

# The one-command demo: the sandbox store, two syncs of every stream into DuckDB through PyAirbyte
# (the second incremental) and a SQL report.
demo: install
	$(BIN)/python -m cart_sandbox.demo

clean:
	rm -rf $(VENV) *.egg-info build dist

.PHONY: conventions
# Airbyte's QA conventions (metadata, docs, spec, layout); stdlib + pyyaml only.
conventions: install
	$(BIN)/python scripts/check_conventions.py

# Benchmark against the earlier connector (airbyte-source-cart 0.3.58, installed on first use in
# .cache/bench-venv-old/): zero latency, a rate limit, 500 ms latency, our memory at a million
# orders. Prints a table and writes .cache/bench/latest.json (about 12 minutes).
# make bench BENCH_ARGS="--torture" adds the fault torture; "--no-million" skips the million.
.PHONY: bench
BENCH_ARGS ?=
bench: install
	$(BIN)/python bench/bench.py --ours-venv $(VENV) $(BENCH_ARGS)
