# Two entry points: `make test` (everything CI runs) and `make up STACK=<stack>` (deploy).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

STACK ?= dev
VENV := venv
PYTHON := $(VENV)/bin/python
# Without a logged-in Pulumi backend, keep state in a git-ignored folder of this checkout.
STATE_DIR := $(CURDIR)/.pulumi-state
BACKEND_ENV = $(shell pulumi whoami >/dev/null 2>&1 || echo PULUMI_BACKEND_URL=file://$(STATE_DIR))

.PHONY: help venv test lint typecheck unit up preview destroy

help:
	@echo "make test               lint, type-check and run the offline test suite"
	@echo "make up STACK=dev       deploy a stack (creates it if needed)"
	@echo "make preview STACK=dev  show what 'up' would change"
	@echo "make destroy STACK=dev  delete every resource of a stack"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

test: lint typecheck unit

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/pyright

# pytest exits 5 when it collects no test; make fails on any non-zero exit, so that fails too.
unit: venv
	$(PYTHON) -m pytest

up preview destroy: venv
	@mkdir -p $(STATE_DIR)
	$(BACKEND_ENV) pulumi stack select --create $(STACK)
	$(BACKEND_ENV) pulumi $@ --stack $(STACK)
