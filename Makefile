# Set-up and entry points. `make run` and `make test` install what they need themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.orderlab-installed
# checkov pins older boto3/botocore than the lab needs, so it gets a virtualenv of its own
CHECKOV_VERSION := 3.3.30
CHECKOV_STAMP   := .venv-checkov/.installed-$(CHECKOV_VERSION)

.PHONY: install checkov run test test-fast test-py312 test-py313 lint bench lab clean-lab cloud-stop

# pytest-xdist: the tests mostly wait on the local cloud, so two workers (each with a cloud of its own)
# overlap those waits; a test file stays on one worker (its module fixtures deploy once), and the tests
# that read the background runs go last, together (tests/conftest.py; docs/testing.md)
TEST_WORKERS ?= 2
PARALLEL := -n $(TEST_WORKERS) --dist loadfile
# pytest rewrites the asserts of every module of its plugins' distributions (schemathesis, hypothesis:
# some 480 modules, seconds of CPU) and caches the result as bytecode; PYTHONDONTWRITEBYTECODE in the
# environment would make every worker of every session rewrite them again (docs/testing.md)
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## checkov (notebook 08's security review) in its own virtualenv .venv-checkov
$(CHECKOV_STAMP):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --upgrade pip
	.venv-checkov/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)

## the main job: the whole series headless on the local cloud -> runs/latest/, with a summary
run: $(STAMP)
	sh scripts/install-browser.sh || echo "(no browser: the notebooks show the order page's URL and place their orders through the API instead)"
	$(BIN)/orderlab run

## unit, integration, conformance, notebook and browser tests (starts and stops its own local cloud);
## installs Debian's chromium + chromedriver first (scripts/install-browser.sh), so the browser tests run,
## and checkov (make checkov), so the template's security review runs
test: $(STAMP) $(CHECKOV_STAMP)
	sh scripts/install-browser.sh
	ORDERLAB_REQUIRE_BROWSER=1 ORDERLAB_REQUIRE_CHECKOV=1 $(PYTEST) --enforce-iam $(PARALLEL)

## the inner loop (docs/testing.md): unit, conformance and the fast integration tests on the local
## cloud — no notebook series, no browser, nothing marked slow; `make test` still runs everything
test-fast: $(STAMP)
	$(PYTEST) --enforce-iam $(PARALLEL) -m "not notebooks and not browser and not slow"

## CI's second Python (test-py312, test-py313): a virtualenv .venv3XX on that Python (scripts/find-python.sh
## finds it, or says what to install), then the whole series headless -> runs/latest-py3.XX/ and the
## conformance suite there; the functions deploy as python3.XX (the Python the lab runs on)
test-py312 test-py313: test-py3%:
	@interpreter=$$(sh scripts/find-python.sh 3.$*) || exit 1; \
	echo "== Python 3.$*: $$interpreter"; \
	$(MAKE) --no-print-directory PYTHON=$$interpreter VENV=.venv3$* install
	ORDERLAB_LAMBDA_RUNTIME= .venv3$*/bin/orderlab run --output runs/latest-py3.$*
	ORDERLAB_LAMBDA_RUNTIME= .venv3$*/bin/python -m pytest --enforce-iam tests/conformance

## ruff (lint, then formatting) and mypy (helpers, localcloud and the Lambda functions: [tool.mypy] in pyproject.toml)
LINT_PATHS := helpers localcloud lambdas tests bench scripts
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

## benchmarks (not part of the tests): runs/bench-<timestamp>/results.json + plot.png
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py

## JupyterLab, to run the notebooks cell by cell
lab: $(STAMP)
	$(BIN)/jupyter lab --ip 127.0.0.1

clean-lab: $(STAMP)
	$(BIN)/orderlab clean --stop-cloud

cloud-stop: $(STAMP)
	$(BIN)/orderlab cloud stop
