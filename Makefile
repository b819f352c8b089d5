# Every target sets up what it needs. See README.md.
SHELL := /bin/bash
PY := .venv/bin/python
STACK ?= dev
FORMAT ?= text
WEB_PORT ?= 3000
API_PORT ?= 8000

.PHONY: setup web run test test-app test-infra test-policies lint plan policy-check bench e2e e2e-down engine restore clean

.venv/.stamp: pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[dev]'
	touch $@

setup: .venv/.stamp

# The web frontend built on the host and assembled for its image (app/web/.image); a no-op when up to date.
web:
	tools/ensure-packages.sh --web
	tools/build-web.sh

run: setup
	WEB_PORT=$(WEB_PORT) API_PORT=$(API_PORT) tools/run.sh

test: setup
	tools/ensure-packages.sh
	tools/ensure-packages.sh --web
	@{ tools/ensure-packages.sh --docker && tools/docker-engine.sh; } \
	  || echo "make test: no Docker engine here; the image tests will skip and say why (CI fails on that)"
	$(PY) -m pytest tests/app tests/infra tests/policies tests/web $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check app infra policies tests
	.venv/bin/ruff format --check app infra policies tests
	.venv/bin/mypy

# The program under the mock runtime records every resource, then the policy pack's real analyzer judges them.
plan: setup
	@mkdir -p var
	@$(PY) -m infra.plan --stack $(STACK) --format $(FORMAT) --output var/plan-$(STACK).json
	@$(PY) -m policies.check --input var/plan-$(STACK).json --stack $(STACK) --format $(FORMAT)

policy-check: setup
	@test -n "$(INPUT)" || { echo "usage: make policy-check INPUT=plan.json [STACK=dev|prod]" >&2; exit 2; }
	@$(PY) -m policies.check --input $(INPUT) --stack $(STACK) --format $(FORMAT)

restore: setup
	$(PY) -m infra.restore --stack $(STACK) $(if $(REPO),--repo $(REPO),) $(if $(TARGET),--target '$(TARGET)',)

engine: setup
	tools/ensure-packages.sh --docker
	tools/docker-engine.sh

bench: setup
	tools/ensure-packages.sh --bench
	tools/ensure-packages.sh --web
	$(PY) -m tests.bench.run
	$(PY) -m tests.bench.backup

e2e: engine
	$(PY) -m pytest tests/e2e $(if $(KEEP),--keep,) $(PYTEST_ARGS)

e2e-down: setup
	$(PY) -m tests.e2e.teardown

clean:
	rm -rf var build app/.wheelhouse app/web/.image .pytest_cache .mypy_cache .ruff_cache
