# gancourse: every target bootstraps .venv itself when it is missing or pyproject.toml changed.
#   make lab        JupyterLab on the lectures, on localhost, token authentication on
#   make test       unit tests + every lecture and solution notebook under nbval, FAST mode, no network
#   make course     run every lecture headless in order and print notebook / seconds / status
#   make exercises  regenerate exercises/ from solutions/
#   make notebooks  re-execute lectures/ and solutions/ in FAST mode (what gets committed)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gancourse-installed
PORT ?= 8888

# What make test and make notebooks share: FAST budgets, caches inside the checkout, no network
# (any HTTP(S) request goes to a closed local port and fails at once).
TEST_ENV := GANCOURSE_FAST=1 GANCOURSE_CACHE=$(CURDIR)/.cache/test GANCOURSE_DATA=$(CURDIR)/.cache/data \
	TQDM_DISABLE=1 PYTHONHASHSEED=0 CUDA_VISIBLE_DEVICES= \
	http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 \
	HTTPS_PROXY=http://127.0.0.1:9 no_proxy=localhost,127.0.0.1 NO_PROXY=localhost,127.0.0.1
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg

.PHONY: lab test test-fast course exercises notebooks notebooks-one venv clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name gancourse --display-name "Python (gancourse)" >/dev/null
	@touch $@

venv: $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter-lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --no-browser \
		--ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/lectures/00_setup.ipynb \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

test: $(STAMP)
	@start=$$(date +%s); \
	$(TEST_ENV) $(PY) -m pytest tests lectures solutions $(NBVAL) -p no:cacheprovider; rc=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s"; exit $$rc

# Only the unit tests: no notebooks (about a minute).
test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests -p no:cacheprovider -m "not slow"

course: $(STAMP)
	$(PY) -m gancourse course

exercises: $(STAMP)
	$(PY) -m gancourse exercises

notebooks: $(STAMP)
	$(TEST_ENV) $(PY) -m gancourse execute lectures/[0-9][0-9]_*.ipynb solutions/[0-9][0-9]_*.ipynb
	$(PY) -m gancourse exercises

clean:
	rm -rf .cache _build

# Execute one notebook in place in FAST mode with the test environment: make notebooks-one NB=lectures/01_x.ipynb
notebooks-one: $(STAMP)
	$(TEST_ENV) $(PY) -m gancourse execute $(NB)
