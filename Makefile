# Two entry points: `make test` (everything CI runs) and `make up STACK=<stack>` (deploy).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Python's bytecode caches, pytest's rewritten test modules among them, are written once and
# reused: where PYTHONDONTWRITEBYTECODE is set (some images and shells set it), each run would
# compile pulumi_aws's modules and the tests again, seconds of every test run's start.
unexport PYTHONDONTWRITEBYTECODE

STACK ?= dev
VENV := venv
PYTHON := $(VENV)/bin/python
# State lives in the backend of `pulumi login` (or PULUMI_BACKEND_URL), for these goals and
# plain `pulumi` commands alike; without one, the Pulumi goals say how to log in and stop.
NEEDS_BACKEND = pulumi whoami >/dev/null 2>&1 || { printf '%s\n' \
  "No Pulumi backend is logged in. Log in once; for state in this checkout (git-ignored):" \
  "  mkdir -p .pulumi-state && pulumi login file://$$PWD/.pulumi-state" \
  "or \`pulumi login\` (Pulumi Cloud), \`pulumi login s3://<bucket>\` (see the README)." >&2; exit 1; }
# STACK when given (command line or environment), else nothing: for the goals that then take
# every stack file (check, cost). Its `dev` default above is for the Pulumi goals.
GIVEN_STACK = $(if $(filter-out file,$(origin STACK)),$(STACK))

.PHONY: help venv test lint typecheck unit docs check cost snapshots up preview destroy integration integration-cleanup

# Stacks exist on purpose: up, preview and destroy take only a STACK that has a stack file, so a
# typo (STACK=prdo) stops here, while make reads this file, instead of creating an empty stack.
STACK_FILE_GOALS := up preview destroy
STACK_FILES := $(filter-out it-%,$(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml)))
ifneq ($(filter $(STACK_FILE_GOALS),$(MAKECMDGOALS)),)
ifeq ($(wildcard Pulumi.$(STACK).yaml),)
$(info There is no stack file Pulumi.$(STACK).yaml. The stack files: $(or $(STACK_FILES),none).)
$(info A new stack: write its Pulumi.<stack>.yaml first (copy one), then `make check STACK=<stack>`.)
$(error no stack file for STACK=$(STACK))
endif
endif

# Goals that run the Pulumi CLI. Without it, stop while make reads this file, before any recipe
# (the virtualenv's included) runs, and say how to install it instead of `command not found`.
PULUMI_GOALS := up preview destroy integration integration-cleanup
ifneq ($(filter $(PULUMI_GOALS),$(MAKECMDGOALS)),)
ifeq ($(shell command -v pulumi),)
INDENT := $(subst x, ,x)$(subst x, ,x)
$(info `make $(filter $(PULUMI_GOALS),$(MAKECMDGOALS))` needs the Pulumi CLI, which is not on PATH. Install it:)
$(info $(INDENT)curl -fsSL https://get.pulumi.com | sh    (Linux, macOS; then open a new shell))
$(info $(INDENT)brew install pulumi/tap/pulumi           (macOS, Linux with Homebrew))
$(info More ways: https://www.pulumi.com/docs/iac/download-install/)
$(error the Pulumi CLI is not installed)
endif
endif

help:
	@echo "make help                   this list"
	@echo "make test                   lint, type-check and run the offline test suite"
	@echo "make up STACK=dev           deploy a stack (creates it if it has a stack file)"
	@echo "make preview STACK=dev      show what 'up' would change"
	@echo "make destroy STACK=dev      delete every resource of a stack"
	@echo "make integration STACK=dev  deploy a throw-away copy of a stack, smoke-check it, destroy it"
	@echo "make integration-cleanup    destroy throw-away stacks a killed integration run left"
	@echo "make check [STACK=dev]      validate the stack files (all, or one) offline, as 'up' would"
	@echo "make docs                   regenerate the README's configuration and cost tables"
	@echo "make snapshots              refresh tests/snapshots/ (each test stack's resource graph)"
	@echo "make cost [STACK=dev]       idle monthly cost per line item, all stacks or one (no AWS needed)"
	@echo "make venv                   create venv/ with the program's and the tests' packages"
	@echo "make lint                   ruff (lint, format), zizmor and actionlint on the workflows"
	@echo "make typecheck              pyright"
	@echo "make unit                   the pytest suite alone, a worker per core"

venv: $(VENV)/.installed

# pip installs only uv (pinned in requirements-dev.txt); uv installs the rest, several times
# faster. pip stays in the virtualenv: Pulumi.yaml's `toolchain: pip` uses it (`pulumi install`).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check "$$(grep -E '^uv[~=<>]' requirements-dev.txt | cut -d' ' -f1)"
	$(VENV)/bin/uv pip install --quiet --python $(PYTHON) -r requirements-dev.txt
	touch $@

# The three checks side by side, each one's output printed whole when it ends. Beside pyright,
# pytest runs in one process (PYTEST_WORKERS=0): its cached program runs then serve every test
# file, where two workers would each compute them again, and pyright has the other core.
test: venv
	@$(MAKE) --no-print-directory --jobs=3 --output-sync=target lint typecheck unit PYTEST_WORKERS=0

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/zizmor --offline --no-progress .github/workflows
	$(VENV)/bin/actionlint -no-color

typecheck: venv
	$(VENV)/bin/pyright

# pytest exits 5 when it collects no test; make fails on any non-zero exit, so that fails too.
# Alone, it runs on a worker per core (pytest-xdist); PYTEST_WORKERS sets how many.
PYTEST_WORKERS ?= auto
unit: venv
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS)

# The README's configuration table (from Pulumi.yaml) and cost table (from the program and
# scripts/prices.json) are generated; tests keep them equal.
docs: venv
	$(PYTHON) scripts/config_table.py --write
	$(PYTHON) scripts/cost.py --write

# Each test stack's resource graph (tests/stacks/), reviewed in pull requests;
# tests/test_snapshots.py fails on any difference until they are refreshed.
snapshots: venv
	$(PYTHON) scripts/snapshots.py --write

# The idle monthly cost of each stack, or of STACK when given (command line or environment: its
# `dev` default above is for the Pulumi goals), priced under the test mocks with
# scripts/prices.json.
cost: venv
	$(PYTHON) scripts/cost.py $(if $(GIVEN_STACK),--stack $(GIVEN_STACK))

# The program's validation of every stack file, or of STACK when given, under the test mocks
# with offline answers (botocore's instance types): each problem with its key, no AWS needed.
check: venv
	$(PYTHON) scripts/check.py $(GIVEN_STACK)

# A new stack encrypts its secrets with PULUMI_SECRETS_PROVIDER when set (the KMS key
# bootstrap/ creates), else with a passphrase.
up preview destroy: venv
	@$(NEEDS_BACKEND)
	pulumi stack select --create $(STACK) $(if $(PULUMI_SECRETS_PROVIDER),--secrets-provider $(PULUMI_SECRETS_PROVIDER))
	pulumi $@ --stack $(STACK)

# A throw-away copy of Pulumi.$(STACK).yaml (tests/integration/): `check` fails fast, naming
# anything missing, where pytest would only skip; -s streams Pulumi's output as it comes.
integration: venv
	@$(NEEDS_BACKEND)
	PULUMI_INTEGRATION=1 INTEGRATION_STACK=$(STACK) $(PYTHON) -m tests.integration check
	PULUMI_INTEGRATION=1 INTEGRATION_STACK=$(STACK) $(PYTHON) -m pytest tests/integration -s -n 0

integration-cleanup: venv
	@$(NEEDS_BACKEND)
	$(PYTHON) -m tests.integration cleanup
