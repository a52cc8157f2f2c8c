# fedledger — every command a user or CI needs. Each target does its own set-up,
# idempotently: on an up-to-date checkout `make setup` finishes in seconds.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Stamps live inside what they describe, so deleting .venv or node_modules re-triggers set-up.
PY_STAMP := $(VENV)/.fedledger-setup
BENCH_STAMP := $(VENV)/.fedledger-bench
HARDHAT_STAMP := hardhat/node_modules/.fedledger-setup
WITH_NODE := scripts/with-node
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
PACKAGES := crypto/fedledger_crypto platform/fedledger_platform clients/fedledger_clients app/fedledger_app

.PHONY: help setup test test-python test-contracts lint fmt bench demo devnet compile-contracts clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

setup: $(PY_STAMP) $(HARDHAT_STAMP)  ## create/refresh .venv, Node >= 22 and Hardhat's npm packages

$(PY_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# torch first and pinned: the local CPU wheel; an unpinned torch pulls CUDA packages.
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	@touch $@

$(HARDHAT_STAMP): hardhat/package.json hardhat/package-lock.json scripts/ensure-node scripts/with-node
	@scripts/ensure-node
	cd hardhat && ../$(WITH_NODE) npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: setup test-contracts test-python  ## run the whole test suite (contracts + Python)

test-python: setup
	$(BIN)/pytest

test-contracts: $(HARDHAT_STAMP)
	cd hardhat && ../$(WITH_NODE) npx hardhat test

lint: setup  ## ruff (lint + format check), mypy --strict, solhint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PACKAGES)
	cd hardhat && ../$(WITH_NODE) npx solhint '../contracts/**/*.sol'

fmt: setup  ## format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

compile-contracts: setup  ## recompile contracts/ into the committed Python artifacts
	$(BIN)/fedledger contracts compile

$(BENCH_STAMP): $(PY_STAMP)
	$(PIP) install -e '.[dev,bench]'
	@touch $@

bench: setup $(BENCH_STAMP)  ## run every benchmark and rewrite docs/benchmarks.md
	$(BIN)/fedledger bench all --json --update-docs

DEMO_ARGS ?=
demo: setup  ## run the complete encrypted, audited federation (prints its dashboard's URL)
	$(BIN)/fedledger demo $(DEMO_ARGS)

devnet: setup  ## start a Hardhat node on 127.0.0.1:8545
	$(BIN)/fedledger devnet

clean:  ## remove build output (keeps .venv and node_modules)
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache hardhat/artifacts hardhat/cache
