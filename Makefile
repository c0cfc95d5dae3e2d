# samplelab — two commands do all the set-up on a fresh machine:
#   make run    creates .venv, installs, runs `samplelab reproduce --profile quick --max-minutes 15`:
#               the seed studies (no ensemble starts after 15 minutes; run it again to go on),
#               the report (reports/report.html) and the claim table
#   make test   creates .venv, installs, runs the test suite
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STORE ?= runs/samplelab.sqlite
PROFILE ?= quick
# make run's training budget: under 20 minutes with install and report; MINUTES= for none
MINUTES ?= 15
# Bench-only interpreter for the PyTorch baseline (torch ships CPU wheels for 3.11 here).
TORCH_VENV := .venv-torch
TORCH_PYTHON ?= python3.11

.PHONY: install run test lint format bench bench-qstr clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $$(sh scripts/find-python.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

run: install
	$(VENV)/bin/samplelab reproduce --profile $(PROFILE) --store $(STORE) --out reports $(if $(MINUTES),--max-minutes $(MINUTES))

test: install
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

lint: install
	$(VENV)/bin/ruff check src tests bench studies
	$(VENV)/bin/ruff format --check src tests bench studies
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff check --fix src tests bench studies
	$(VENV)/bin/ruff format src tests bench studies

$(TORCH_VENV)/.installed:
	$(TORCH_PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/pip install --quiet torch==2.13.0 numpy
	@touch $@

bench: install $(TORCH_VENV)/.installed
	$(PY) bench/trainer.py --torch-python $(TORCH_VENV)/bin/python
	$(PY) bench/qstr_hierarchy.py --torch-python $(TORCH_VENV)/bin/python

bench-qstr: install $(TORCH_VENV)/.installed
	$(PY) bench/qstr_hierarchy.py --torch-python $(TORCH_VENV)/bin/python

clean:
	rm -rf $(VENV) $(TORCH_VENV) .pytest_cache .ruff_cache build src/*.egg-info
