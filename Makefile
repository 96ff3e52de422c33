# The two commands: `make run` and `make test` (see README.md).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test setup lint typecheck clean-data

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

# Stops and deletes the private cluster of `make run` (the demo is reloaded on the next run).
clean-data:
	-$(BIN)/sanichain db local stop
	rm -rf .data/pg
