# source-cart: everything a developer or CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test spec clean

install: $(BIN)/source-cart

$(BIN)/source-cart: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# Unit tests (mocked HTTP and the CDK's standard suite) and, once present, integration tests.
test: install
	$(BIN)/python -m pytest -q

# Print the connector's spec: a quick proof that the installed command works.
spec: install
	$(BIN)/source-cart spec

clean:
	rm -rf $(VENV) *.egg-info build dist
