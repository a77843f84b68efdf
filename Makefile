# The two commands: `make serve` (the API on 127.0.0.1:8205, embedded DynamoDB) and `make test` (everything).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
SAM_VENV ?= .venv-sam
PORT ?= 8205
PY := $(VENV)/bin/python
export PYTHONPATH := layers/common:.
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: serve test lint typecheck unit bench clean

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $@

serve: $(VENV)/.installed
	$(PY) -m devserver --port $(PORT)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	$(PY) -m pytest

test: $(VENV)/.installed $(SAM_VENV)/.installed lint typecheck
	SAM_CLI=$(abspath $(SAM_VENV))/bin/sam $(PY) -m pytest

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
