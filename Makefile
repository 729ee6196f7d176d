# The two commands of the README: `make dev` runs the platform, `make test` runs every test.
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: install lint test dev seed clean

install:
	@./scripts/bootstrap

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .

test: lint
	$(UV) run pytest

dev: install
	$(UV) run python -m devstack

seed:
	$(UV) run python -m devstack.seed

clean:
	rm -rf .local
