# Everything installs itself: a fresh clone needs only python3, pip and git.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
DEV_PORT ?= 3000

.PHONY: help demo dev test test-slow test-all lint bench faults conformance clean

help:
	@echo "make demo       run the metapipeline job on the FreshCart sample, offline"
	@echo "make dev        open the Dagster UI on the sandbox (http://127.0.0.1:$(DEV_PORT))"
	@echo "make test       the fast test suite"
	@echo "make test-slow  the slow end-to-end tests (real dbt, Dagster runs)"
	@echo "make lint       ruff and mypy"
	@echo "make bench      benchmarks that print figures beside their baselines (end_to_end: ~25 min)"
	@echo "make faults     the job 50 times under random Mode/GitHub/Slack faults, with a table of outcomes"
	@echo "make conformance  DataHub's Mode source (own virtualenv) ingests the sandbox: counts, no warnings"

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/metapipeline demo

dev: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/metapipeline dev --port $(DEV_PORT)

test: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/pytest -q

test-slow: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/pytest -q -m slow

test-all: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/pytest -q -m ''

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.synced
	$(BIN)/python -m benchmarks

faults: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m tests.faults.run_fault_suite --runs 50 --seed 1

conformance: $(VENV)/.synced
	$(BIN)/python -m tests.conformance.datahub_mode

clean:
	rm -rf .sandbox .dagster_home .pytest_cache .ruff_cache .mypy_cache .conformance
