# The two commands of the README: `make demo` runs the pipeline locally, `make test` tests it.
# Both set up everything they need on a fresh machine (Java + Maven for the Kafka broker,
# a Python 3.11 virtualenv with the project); nothing else has to be installed by hand.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench setup clean ops-tools helm-alerts chromium

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v java >/dev/null && command -v mvn >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/oms demo

test: $(STAMP) ops-tools chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -p no:cacheprovider

# promtool (Debian's prometheus package) and helm (built from the Go module proxy) for the
# tests in tests/ops; each is installed only when missing, so a second run does nothing.
HELM_VERSION := v3.22.0
TOOLS_BIN := $(HOME)/.cache/oms-stream/bin
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)

ops-tools:
	@command -v promtool >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends prometheus)
	@test -x $(TOOLS_BIN)/helm || command -v helm >/dev/null || \
		GOBIN=$(TOOLS_BIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@promtool --version 2>&1 | head -1
	@($(TOOLS_BIN)/helm version --short 2>/dev/null || helm version --short) | sed 's/^/helm /'

# Debian's chromium for tests/browser (Playwright drives it; no browser download from
# Playwright's CDN): installed only when missing.
chromium:
	@command -v chromium >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends chromium)
	@chromium --version 2>/dev/null | head -1

# The Helm chart's PrometheusRule is rendered from a copy of the one rule file
# (tests/ops checks that the copy is identical; run this after editing the rules).
helm-alerts:
	cp dashboards/prometheus/alerts.yml helm/oms/files/alerts.yml

bench: $(STAMP)
	$(BIN)/oms bench slice
	$(BIN)/oms bench inventory

clean:
	rm -rf $(VENV) .oms-state
