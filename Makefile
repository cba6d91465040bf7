# The two commands of the README: `make demo` runs the pipeline locally, `make test` tests it.
# Both set up everything they need on a fresh machine (Java + Maven for the Kafka broker,
# a Python 3.11 virtualenv with the project); nothing else has to be installed by hand.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v java >/dev/null && command -v mvn >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/oms run --events samples/day.jsonl

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/oms bench slice
	$(BIN)/oms bench inventory

clean:
	rm -rf $(VENV) .oms-state
