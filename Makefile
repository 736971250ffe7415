# The two commands: `make run` (the whole stack on this machine) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA_DIR ?= ./.opsroom

.PHONY: run test bench venv clean lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when pyproject.toml changes; the stamp names the extras installed.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[embedded,test]'
	touch $@ $(VENV)/.installed-run

# `make run CONFIG=opsroom.yaml` runs the stack with your configuration instead of the example
run: $(VENV)/.installed-run
	$(BIN)/opsroom up --data-dir $(DATA_DIR) $(if $(CONFIG),--config $(CONFIG))

# the suite mostly waits on Synapse and PostgreSQL: a few worker processes (each with its own
# Synapse) finish it in a fraction of the time; TEST_WORKERS=0 runs it in this process
TEST_WORKERS ?= 3
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS)) --durations=15 $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache
