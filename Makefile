# cxflow: `make up` starts the whole local stack, `make test` runs the suite. Both install into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test bench install protos check-protos docs check-docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install whenever pyproject.toml changes; the stamp keeps repeated `make up` fast.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

up: install
	$(BIN)/python -m cxflow.stack

# Two test processes (pytest-xdist); PYTEST_WORKERS=0 runs everything in this one, PYTEST_ARGS adds pytest options.
PYTEST_WORKERS ?= 2
test: install check-protos check-docs
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Runs every benchmark script and writes benchmarks/REPORT.md and the README's performance section. The scripts run at
# their --quick sizes, so the whole report takes minutes on a 2-core machine; BENCH_ARGS= runs the full sizes.
BENCH_ARGS ?= --quick
bench: install
	$(BIN)/python benchmarks/report.py $(BENCH_ARGS)

# Regenerates the stubs and the gRPC API reference that is generated from the same protos.
protos: install
	$(BIN)/python scripts/generate_protos.py
	$(BIN)/python scripts/generate_api_docs.py

check-protos: install
	$(BIN)/python scripts/generate_protos.py --check

# docs/grpc-api.md is generated from the protos and their comments; `make test` fails when it drifts.
docs: install
	$(BIN)/python scripts/generate_api_docs.py

check-docs: install
	$(BIN)/python scripts/generate_api_docs.py --check

clean:
	rm -rf $(VENV) .data .pytest_cache .hypothesis
