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

# Unit tests (mocked HTTP, the CDK's standard suite, the CLI; one worker per core) and end-to-end
# tests against the sandbox (the installed command, the runner, PyAirbyte; one at a time, as some
# measure pacing against the clock). Both tiers run even when the first fails.
test: install
	@status=0; \
	$(BIN)/python -m pytest -q -n auto unit_tests || status=1; \
	$(BIN)/python -m pytest -q integration_tests || status=1; \
	exit $$status

# The quick loop: the unit tests in the manifest-only runtime (the one the platform and the
# Builder run), without their twins through source-cart's launcher, which `make test` adds.
.PHONY: unit
unit: install
	$(BIN)/python -m pytest -q -n auto unit_tests -m "not cli_runtime"

# The airbyte-cdk range pyproject.toml declares, tested at both ends: its lowest release (also
# manifest.yaml's `version` and metadata.yaml's base image, which test_conventions.py holds to it)
# and the newest 7.x the package index offers, resolved on every run. Each end has its own venv
# under .cache/ with the connector and its `test` extra. The unit tests run in both at once (each
# is one CPU-bound process; their output is printed when both are done), and a failure at one end
# does not hide the other's result.
.PHONY: test-cdk-range
test-cdk-range:
	@lowest=$$(sed -n 's/^ *"airbyte-cdk>=\([0-9][0-9.]*\),<8",\{0,1\}$$/\1/p' pyproject.toml); \
	if [ -z "$$lowest" ]; then echo 'test-cdk-range: pyproject.toml has no "airbyte-cdk>=X,<8" dependency'; exit 1; fi; \
	for end in lowest newest; do \
	  venv=.cache/cdk-$$end; \
	  if [ $$end = lowest ]; then want="airbyte-cdk==$$lowest"; else want="airbyte-cdk>=$$lowest,<8"; fi; \
	  [ -x $$venv/bin/python ] || $(PYTHON) -m venv $$venv || exit 1; \
	  $$venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade -e ".[test]" "$$want" || exit 1; \
	done; \
	cdk() { .cache/cdk-$$1/bin/python -c 'import importlib.metadata as m; print(m.version("airbyte-cdk"))'; }; \
	low=$$(cdk lowest); new=$$(cdk newest); \
	if [ "$$low" = "$$new" ]; then \
	  echo "test-cdk-range: the lowest allowed airbyte-cdk, $$low, is also the newest 7.x on the index: both ends run on it"; \
	else \
	  echo "test-cdk-range: airbyte-cdk $$low (lowest allowed) and $$new (newest 7.x on the index)"; \
	fi; \
	echo "test-cdk-range: unit tests running in both venvs (logs: .cache/cdk-lowest/unit-tests.log, .cache/cdk-newest/unit-tests.log)"; \
	.cache/cdk-lowest/bin/python -m pytest -q unit_tests > .cache/cdk-lowest/unit-tests.log 2>&1 & lowest_pid=$$!; \
	.cache/cdk-newest/bin/python -m pytest -q unit_tests > .cache/cdk-newest/unit-tests.log 2>&1 & newest_pid=$$!; \
	trap 'kill $$lowest_pid $$newest_pid 2>/dev/null; exit 130' INT TERM; \
	failed=""; \
	wait $$lowest_pid || failed="$$failed lowest=$$low"; \
	wait $$newest_pid || failed="$$failed newest=$$new"; \
	for end in lowest newest; do \
	  echo "== unit tests on airbyte-cdk $$(cdk $$end) ($$end end of the range)"; cat .cache/cdk-$$end/unit-tests.log; \
	done; \
	if [ -n "$$failed" ]; then echo "test-cdk-range: unit tests FAILED on airbyte-cdk:$$failed"; exit 1; fi; \
	echo "test-cdk-range: unit tests passed on airbyte-cdk $$low and $$new"

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
