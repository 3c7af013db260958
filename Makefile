# wardwatch — the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test bench lint format system-packages venv clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "wardwatch needs Python >= 3.11 as $(PYTHON)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -U pip 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[collector,dev]' 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -c 'import agent, collector, alerting, prometheus_client, pysnmp, snmpsim, pysmi'
	@touch $(STAMP)

venv: $(STAMP)

system-packages:
	@bash deploy/dev/system-packages.sh

## make run: set up and start collector + local agent + simulated SNMP devices on the demo config.
run: system-packages $(STAMP)
	@$(BIN)/wardwatch demo

## make test: set up and run every test (real Prometheus, snmpd, PostgreSQL, SMTP on loopback).
test: system-packages $(STAMP)
	@bash deploy/dev/test-services.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: benchmarks, side by side with the peers; figures go to docs/benchmarks.md by hand.
bench: system-packages $(STAMP)
	@$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

format: $(STAMP)
	@$(BIN)/ruff check --fix .
	@$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
