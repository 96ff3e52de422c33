# The two commands: `make run` and `make test` (see README.md).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test setup lint typecheck bench clean-data

run:
	@scripts/setup.sh run
	@exec $(BIN)/sanichain run

test:
	@scripts/setup.sh test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

setup:
	@scripts/setup.sh test

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

# Benchmarks (long; see bench/README.md): each prints figures beside its anchor, numbers in docs/benchmarks.md.
bench:
	@scripts/setup.sh bench
	$(BIN)/python bench/scale_dataset.py
	$(BIN)/python bench/layers_out.py
	$(BIN)/python bench/chain_flows.py
	$(BIN)/python bench/chain_edits.py
	$(BIN)/python bench/coverage_national.py
	$(BIN)/python bench/siting_sizes.py
	$(BIN)/python bench/maps.py
	$(BIN)/python bench/road_circuity.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/load.py --users 20 --wait 1

# Stops and deletes the private cluster of `make run` (the demo is reloaded on the next run).
clean-data:
	-$(BIN)/sanichain db local stop
	rm -rf .data/pg
