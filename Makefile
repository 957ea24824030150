# One entry point per thing a person does. `make up` runs the product locally,
# `make test` runs every test (it is exactly what .ci/run runs). Both set up what
# they need first, from pinned files, into this folder only.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# A second, TensorFlow-only environment at the SageMaker *inference* container's
# version, to prove the artifact loads there (see tests/model).
VENV_TF_SERVING := .venv-tf220
CDK := npx --no-install cdk

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export SKINLESION_TF_SERVING_PYTHON := $(CURDIR)/$(VENV_TF_SERVING)/bin/python

.PHONY: help setup up test check lint typecheck pytest web-test web-build synth cfn-lint \
        deploy destroy browser lock train-default evaluate-default bench clean \
        train-default-model bench-model loso-table guard-negatives guard-clinical refit-default-guard

help:
	@echo "make up      - set up, then run the whole product locally (the local stack)"
	@echo "make test    - set up, then run every test (what CI runs)"
	@echo "make synth   - cdk synth offline into cdk.out/"
	@echo "make deploy  - cdk deploy (needs AWS credentials)  |  make destroy - cdk destroy"
	@echo "make train-default - retrain the shipped default model from ../shared/data (isic-dev + isic-2017)"
	@echo "make loso-table    - leave-one-source-out table + recipe ablation (models/default/loso.json)"
	@echo "make guard-negatives / guard-clinical - refit the guard's packaged negatives / clinical part"
	@echo "make refit-default-guard - refit models/default's guard with them (classifier unchanged)"
	@echo "make bench   - run the benchmark scripts in bench/"
	@echo "make lock    - re-resolve the hash-locked requirements/*.lock (UPGRADE=1 for newer versions)"

# ---------------------------------------------------------------- set-up
# Python packages come only from the hash locks in requirements/ (docs/security.md, "Supply
# chain"): pip refuses any file whose sha256 the lock does not list, and --no-deps installs
# nothing the lock does not name. The locks pin pip and setuptools too. The project itself is
# installed editable with the locked setuptools (--no-build-isolation) and --no-index, so
# nothing unhashed is fetched. `make lock` re-resolves them (UPGRADE=1 takes newer versions).
LOCKED_INSTALL := install -q --require-hashes --no-deps -r

$(VENV)/.stamp: pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip $(LOCKED_INSTALL) requirements/dev.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation --no-index -e .
	touch $@

$(VENV_TF_SERVING)/.stamp: requirements/tf-serving.lock
	$(PYTHON) -m venv $(VENV_TF_SERVING)
	$(VENV_TF_SERVING)/bin/pip $(LOCKED_INSTALL) requirements/tf-serving.lock
	touch $@

# Re-resolve every lock from its inputs (asks PyPI; installs the pinned uv from requirements/tools.lock).
lock: $(VENV)/.stamp
	$(BIN)/pip $(LOCKED_INSTALL) requirements/tools.lock
	$(PY) -m tools.locks $(if $(UPGRADE),--upgrade)

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

web/node_modules/.stamp: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium for the browser tests (a test tool's own browser download fails offline).
# Installing it runs apt-get, which needs root. Without it the browser tests skip, except in
# CI (CI=true, which .ci/run sets): there a missing browser fails the run.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests (apt-get; needs root)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || { if [ "$$CI" = "true" ]; then \
	         echo "ERROR: chromium is missing and could not be installed; CI runs the browser tests" >&2; \
	         exit 1; fi; \
	       echo "WARNING: could not install chromium; the browser tests will be skipped"; }; }

setup: $(VENV)/.stamp node_modules/.stamp web/node_modules/.stamp

# ---------------------------------------------------------------- run
web-build: web/node_modules/.stamp
	cd web && npm run build

up: setup web-build
	$(BIN)/skinlesion up

# ---------------------------------------------------------------- test
test: setup $(VENV_TF_SERVING)/.stamp browser
	$(MAKE) web-test
	$(MAKE) check
	$(MAKE) pytest

web-test: web/node_modules/.stamp
	cd web && npm test

check: lint typecheck

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy stacks lambda_src

pytest:
	$(BIN)/pytest

# ---------------------------------------------------------------- cdk
synth: setup web-build
	$(CDK) synth -q

cfn-lint: synth
	$(BIN)/cfn-lint -t cdk.out/*.template.json --ignore-checks W3005

deploy: setup web-build
	$(CDK) deploy

destroy: setup
	$(CDK) destroy

# ---------------------------------------------------------------- model
# The same recipe through the console script (tests/cli checks the two agree).
train-default: setup
	$(BIN)/skinlesion train --default

# Each script writes its section of docs/benchmarks.md.
bench: bench-model
	$(PY) bench/lambda_package.py
	$(PY) bench/e2e_latency.py
	$(PY) bench/load_test.py

# The shipped default model (issues 3, 13): exactly this command produced models/default/.
# Both shared sources; the domain-shift recipe is train.py's default (docs/model.md).
SHARED := $(CURDIR)/../shared
DEFAULT_MODEL_FLAGS := --arch mobilenet_v2 \
	--weights $(SHARED)/weights/mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5 \
	--image-size 192 --epochs 10 --head-epochs 2 --fine-tune-lr-scale 0.3 --patience 4 \
	--freeze-through block_16_expand_relu \
	--test-fraction 0.15 --val-fraction 0.2 --seed 1337 --target-sensitivity 0.90
train-default-model: setup
	$(PY) model_src/train.py --train $(SHARED)/data/isic-dev,$(SHARED)/data/isic-2017 --model-dir .work/default-model \
	  $(DEFAULT_MODEL_FLAGS) --loso-table models/default/loso.json \
	  --package models/default/model.tar.gz --metrics-out models/default/metrics.json

# The leave-one-source-out table and the recipe ablation (issue 13): every recipe variant
# trained on one source and scored on the other, both ways, at a reduced budget (160 px,
# 6 epochs) that fits 2 CPU cores. train-default-model embeds the rows of its own recipe.
LOSO_FLAGS := --arch mobilenet_v2 \
	--weights $(SHARED)/weights/mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5 \
	--image-size 160 --epochs 6 --head-epochs 2 --fine-tune-lr-scale 0.3 --seed 1337 --target-sensitivity 0.90
loso-table: setup
	$(PY) model_src/loso.py --train $(SHARED)/data/isic-dev,$(SHARED)/data/isic-2017 \
	  $(LOSO_FLAGS) --out models/default/loso.json

# The guard's photo negatives: features of ../shared/data/not-lesion (half A) at the frozen layer.
guard-negatives: setup
	$(PY) model_src/guard_negatives.py --data $(SHARED)/data/not-lesion \
	  --out model_src/lesion_model/data/guard_negatives.npz

# The guard's clinical part: one linear direction, lesions (both sources) against clinical-skin's
# half A, fitted here; the photographs (CC BY-NC-ND) never leave ../shared (docs/model.md).
guard-clinical: setup
	$(PY) model_src/guard_clinical.py --data $(SHARED)/data \
	  --out model_src/lesion_model/data/guard_clinical.npz

# Refit the shipped model's guard after its packaged data changed (the classifier is kept:
# refit_guard.py checks the probabilities are unchanged before it writes).
refit-default-guard: setup
	$(PY) model_src/refit_guard.py --artifact models/default/model.tar.gz --data $(SHARED)/data \
	  --out models/default/model.tar.gz

bench-model: setup
	$(PY) bench/model_throughput.py && $(PY) bench/model_latency.py && $(PY) bench/model_quality.py

clean:
	rm -rf cdk.out .local web/dist .pytest_cache
