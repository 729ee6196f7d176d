# The two commands of the README: `make dev` runs the platform, `make test` runs every test.
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: install lint typecheck test dev seed docs bench clean

install:
	@./scripts/bootstrap

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .

# Test folders hold same-named modules (conftest.py), so mypy takes them one at a time.
TEST_DIRS := $(wildcard */tests) $(wildcard tests/*/)

typecheck: install
	$(UV) run mypy --strict common/src auth/src tickets/src orders/src expiration/src payments/src client/src testsupport/src devstack benchmarks
	@set -e; for dir in $(TEST_DIRS); do echo "mypy $$dir"; $(UV) run mypy $$dir; done

test: lint typecheck
	$(UV) run pytest

dev: install
	$(UV) run python -m devstack

seed:
	$(UV) run python -m devstack.seed

# The AsyncAPI document of the events (docs/asyncapi.yaml), made from the code.
docs: install
	$(UV) run python -m devstack.asyncapi

# Throughput and background cost as ratios to ceilings started in the same run, each next to
# its target, and memory per service (benchmarks/README.md); a few minutes. Not part of
# `make test`. One group: `uv run python -m benchmarks --only list`. Then title search by
# catalogue size (benchmarks/bench_search.py).
bench: install
	$(UV) run python -m benchmarks
	$(UV) run python -m benchmarks.bench_search

clean:
	rm -rf .local
