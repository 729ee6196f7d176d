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
	$(UV) run mypy --strict common/src auth/src tickets/src orders/src expiration/src payments/src client/src testsupport/src devstack
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

# Figures, not assertions: listing latency by catalogue size, reservation under contention,
# memory per service (benchmarks/README.md); title search by catalogue size.
bench: install
	$(UV) run python -m benchmarks
	$(UV) run python -m benchmarks.bench_search

clean:
	rm -rf .local
