# gancourse: every target bootstraps .venv itself when it is missing or pyproject.toml changed.
#   make lab        JupyterLab on your working copy my-course/ (made once from lectures/, exercises/), localhost, token
#   make test       unit tests + every lecture and solution notebook under nbval, FAST mode, no network
#   make course     run every lecture headless in order and print notebook / seconds / trained / status
#   make exercises  regenerate exercises/ from solutions/
#   make notebooks  re-execute lectures/ and solutions/ in FAST mode (what gets committed)
#   make slides     every lecture as reveal.js slides in _build/slides/ (open from disk; no server, no network)
#   make bench      performance table (lecture times, training throughput, Fréchet distance)
#   make robust     every lecture again under two more seed offsets and two torch threads: each checked claim that changes
#   make references rebuild the shipped reference models on MNIST (GANCOURSE_DATA; one to two hours on a CPU)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gancourse-installed
PORT ?= 8888

# What make test and make notebooks share: FAST budgets, caches inside the checkout, no network
# (any HTTP(S) request goes to a closed local port and fails at once).
# One torch thread per process: make test runs two test processes side by side (pytest -n 2), and
# two processes of one thread each beat one of two threads on these small models.
TEST_ENV := GANCOURSE_FAST=1 GANCOURSE_CACHE=$(CURDIR)/.cache/test GANCOURSE_DATA=$(CURDIR)/.cache/data \
	TQDM_DISABLE=1 PYTHONHASHSEED=0 CUDA_VISIBLE_DEVICES= OMP_NUM_THREADS=1 \
	http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 \
	HTTPS_PROXY=http://127.0.0.1:9 no_proxy=localhost,127.0.0.1 NO_PROXY=localhost,127.0.0.1
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg

.PHONY: bench robust lab lab-command test test-fast course exercises references notebooks notebooks-one venv clean site site-vendor slides

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the course and its tools (PyTorch, JupyterLab, the test and site tools) into $(VENV)/: about"
	@echo "4 minutes the first time (pip's progress follows); again only when pyproject.toml changes."
	$(PY) -m pip install --progress-bar on -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name gancourse --display-name "Python (gancourse)" >/dev/null
	@touch $@

venv: $(STAMP)

# The server make lab starts; tests/browser/test_lab.py starts the same one (make -s lab-command).
# make lab opens the learner's working copy (my-course/, ignored by git; python -m gancourse workcopy).
LAB_START ?= lectures/00_setup.ipynb
LAB_CMD = $(VENV)/bin/jupyter-lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --no-browser \
	--ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/$(LAB_START) \
	$(if $(filter 0,$(shell id -u)),--allow-root,)

lab: LAB_START := my-course/lectures/00_setup.ipynb
lab: $(STAMP)
	@$(PY) -m gancourse workcopy
	$(LAB_CMD)

lab-command:
	@echo '$(LAB_CMD)'

# Without npm the site's scripts cannot be fetched and its browser tests skip, saying so (--optional).
test: VENDOR_FLAGS := --optional
test: $(STAMP) site-vendor
	@start=$$(date +%s); \
	$(TEST_ENV) $(PY) -m pytest -n 2 --dist loadfile tests $(wildcard lectures solutions) $(NBVAL) -p no:cacheprovider; rc=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s"; exit $$rc

# Only the unit tests: no notebooks (about a minute).
test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests -p no:cacheprovider -m "not slow and not browser"

course: $(STAMP)
	$(PY) -m gancourse course

# Lecture times and memory (FAST), train_gan against a plain DataLoader loop, frechet_distance against
# pytorch-fid at 2048 dimensions: one table (see benchmarks/bench.py; PARTS=fd,throughput for a subset).
bench: $(STAMP)
	GANCOURSE_CACHE=$(CURDIR)/.cache/bench GANCOURSE_DATA=$(CURDIR)/.cache/data $(PY) benchmarks/bench.py $(if $(PARTS),--only $(PARTS),)

# Re-execute the lectures (copies) under GANCOURSE_SEED=1 and 2 and with two torch threads, each with a cache of its
# own, and print every checked output line that differs from the committed one (benchmarks/robust.py).
# LECTURES="01 04" for a subset; VARIANTS="seed=3 threads=2" for others. Every lecture: many minutes on a CPU.
robust: $(STAMP)
	$(TEST_ENV) $(PY) benchmarks/robust.py $(if $(LECTURES),--lectures $(LECTURES),) $(if $(VARIANTS),--variants $(VARIANTS),)

exercises: $(STAMP)
	$(PY) -m gancourse exercises

references: $(STAMP)
	$(PY) -m gancourse references --all

notebooks: $(STAMP)
	$(TEST_ENV) $(PY) -m gancourse execute lectures/[0-9][0-9]_*.ipynb solutions/[0-9][0-9]_*.ipynb
	$(PY) -m gancourse exercises

# The course as a static site in _build/site/ (open _build/site/index.html; no server, no network):
# Sphinx + myst-nb over the committed notebooks, never re-executed. site-vendor fetches the pinned
# MathJax and widget scripts (site/vendor.json) from the npm registry once, into _build/.
site: $(STAMP) site-vendor
	$(PY) site/build.py html --offline

site-vendor:
	@$(PYTHON) site/build.py vendor $(VENDOR_FLAGS)

# Slides from the committed notebooks, never executed: mark re-applies the slide rules (cell tags override;
# metadata only), build writes _build/slides/NN_*.slides.html with the same vendored reveal.js and MathJax.
slides: $(STAMP) site-vendor
	$(PY) site/slides.py mark
	$(PY) site/slides.py build

clean:
	rm -rf .cache _build

# Execute one notebook in place in FAST mode with the test environment: make notebooks-one NB=lectures/01_x.ipynb
notebooks-one: $(STAMP)
	$(TEST_ENV) $(PY) -m gancourse execute $(NB)
