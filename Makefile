# Every target sets itself up: a fresh machine needs only Python 3.11+, Node.js, Java and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEPS_STAMP := $(VENV)/.deps-installed
UV := $(VENV)/bin/uv
EVENTS ?= 5000000
REPEATS ?= 3
INGEST_EVENTS ?= 1000000
E2E_EVENTS_PER_DAY ?= 1000000
DAYS ?= 3
EVENTS_PER_DAY ?= 20000

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= eu-west-1

# MWAA runs Airflow 3 on Python 3.12: use a 3.12 interpreter (PATH or pyenv), else python3.
PYTHON_AIRFLOW ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
	$$p -c 'import sys' >/dev/null 2>&1 && echo $$p && break; done || true)
ifeq ($(strip $(PYTHON_AIRFLOW)),)
PYTHON_AIRFLOW := $(PYTHON)
endif
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
# checkov pins its own boto3: a venv of its own (tests/infra/test_stack.py runs it from here)
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CDK := node_modules/.bin/cdk
NPM_STAMP := node_modules/.installed

ENV ?= dev
HADOLINT := $(VENV)/bin/hadolint

# The report's browser test drives a real headless Chromium (Debian's package).
CHROMIUM ?= /usr/bin/chromium

.PHONY: venv test suite lint checkov demo bench synth deploy dag-test clean chromium

venv: $(STAMP)

# pip (infra/layer.py builds the Lambda layer with it) and uv, which installs every
# virtualenv's pins: on this machine 50 s for .venv against pip's 130 s, a fresh clone's
# largest cost before the first test. Byte-compiled at install, as pip does: with
# PYTHONDONTWRITEBYTECODE set (it is on this machine) every process would compile its imports.
$(UV): requirements-bootstrap.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bootstrap.txt
	touch $(UV)

# The pinned dependencies first (the Dockerfile installs them before copying the code), then
# the project itself, editable (`-e .`), so the `retail-etl` command lands in .venv/bin and
# works from any directory (it reads cdk.json and sql/ from this tree).
$(DEPS_STAMP): requirements.txt requirements-dev.txt constraints.txt | $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) \
		-r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $(DEPS_STAMP)

$(STAMP): $(DEPS_STAMP) pyproject.toml
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(NPM_STAMP)

# Real credentials only: the fake keys exported above for tests must not shadow a profile.
deploy: $(STAMP) $(NPM_STAMP)
	@if [ "$$AWS_ACCESS_KEY_ID" = testing ]; then unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; fi; \
	$(CDK) deploy RetailEtl-$(ENV) --require-approval broadening

# Offline, with no credentials: the stacks are environment-agnostic.
synth: $(STAMP) $(NPM_STAMP) $(CHECKOV_STAMP)
	$(CDK) synth --all --quiet --no-version-reporting --no-notices --output cdk.out
	$(VENV)/bin/cfn-lint cdk.out/RetailEtl-*.template.json
	$(MAKE) --no-print-directory checkov

# checkov over the templates make synth wrote (make test runs it over its own synthesis, in
# tests/infra/test_stack.py). Accepted findings are skipped on their resources, with reasons
# (infra/checkov.py); anything else fails.
checkov: $(CHECKOV_STAMP)
	@test -n "$(wildcard cdk.out/RetailEtl-*.template.json)" \
		|| { echo "no templates in cdk.out: run make synth" >&2; exit 1; }
	$(CHECKOV) --framework cloudformation --skip-download --compact --quiet \
		$(foreach t,$(wildcard cdk.out/RetailEtl-*.template.json),-f $(t))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(HADOLINT) Dockerfile

# Installed by .venv's uv (no pip of its own), not byte-compiled: checkov runs a few times only.
$(CHECKOV_STAMP): requirements-checkov.txt | $(UV)
	$(PYTHON) -m venv --without-pip $(CHECKOV_VENV)
	$(UV) pip install --quiet --python $(CHECKOV_VENV)/bin/python -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

# Not byte-compiled: one test process imports from it, and compiling all of Airflow took 44 s
# of a 48 s install here for 21 s saved in that process.
$(AIRFLOW_STAMP): requirements-airflow.txt dags/constraints.txt | $(UV)
	$(PYTHON_AIRFLOW) -m venv --without-pip $(AIRFLOW_VENV)
	$(UV) pip install --quiet --python $(AIRFLOW_VENV)/bin/python \
		-r requirements-airflow.txt -c dags/constraints.txt
	touch $(AIRFLOW_STAMP)

# Wall time is the limit, not CPU: the virtualenvs install side by side, and the DAG test
# runs while checkov's installs.
test:
	$(MAKE) -j3 dag-test $(CHECKOV_STAMP) chromium
	$(MAKE) lint suite

# Both cores: test modules are spread over two workers (a module's tests stay together), the
# longest first (tests/conftest.py).
suite: $(STAMP) $(CHECKOV_STAMP) chromium
	RETAIL_ETL_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -n 2 --dist loadscope --no-loadscope-reorder \
		--durations=20

# Found, or installed from the Debian packages (CI runs as root; elsewhere through sudo).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			$$SUDO apt-get install -y -qq --no-install-recommends chromium; \
	fi
	@$(CHROMIUM) --version

# The DAG on real Airflow against moto, running the state machine synthesized from the CDK app.
dag-test: $(STAMP) $(AIRFLOW_STAMP)
	mkdir -p build
	$(PY) -m infra.definition dev > build/state_machine.dev.json
	PYTHONPATH=. $(AIRFLOW_VENV)/bin/python -m pytest tests/dags --confcutdir=tests/dags \
		-p no:cacheprovider -q

demo: $(STAMP)
	$(PY) -m retail_etl demo --days $(DAYS) --events-per-day $(EVENTS_PER_DAY)

bench: $(STAMP)
	$(PY) -m benchmarks.run --events $(EVENTS) --repeats $(REPEATS) --ingest-events $(INGEST_EVENTS) \
		--e2e-events-per-day $(E2E_EVENTS_PER_DAY) --json bench-results.json

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) $(CHECKOV_VENV) node_modules build .pytest_cache .ruff_cache cdk.out
