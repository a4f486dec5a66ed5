# Every target sets itself up: a fresh machine needs only Python 3.11+, Node.js, Java and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EVENTS ?= 5000000
INGEST_EVENTS ?= 1000000
DAYS ?= 3
EVENTS_PER_DAY ?= 20000

export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= eu-west-1

.PHONY: venv test lint demo bench clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==26.3
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) -m retail_etl demo --days $(DAYS) --events-per-day $(EVENTS_PER_DAY)

bench: $(STAMP)
	$(PY) -m benchmarks.run --events $(EVENTS) --ingest-events $(INGEST_EVENTS) --json bench-results.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache cdk.out
