# ArtEm developer commands. `make demo` and `make test` set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint proto clean

setup: $(STAMP)

# A virtual environment in the checkout with the pinned CPU requirements and ArtEm's three
# distributions, editable: the protocol (protocol/), the client (engine_clients/python/) and the
# server with training (.).
$(STAMP): pyproject.toml protocol/pyproject.toml engine_clients/python/pyproject.toml requirements/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/cpu.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps \
		-e protocol -e engine_clients/python -e .
	touch $(STAMP)

demo: setup
	bash scripts/demo.sh

# Lint and format check first (ruff, configured in pyproject.toml): a style slip fails in seconds.
test: lint
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

proto: setup
	$(PY) scripts/gen_proto.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
