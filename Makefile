# gr-cfisac: the two README commands and their set-up.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.cfisac-installed
export GRC_BLOCKS_PATH := $(CURDIR)/grc
export QT_QPA_PLATFORM ?= offscreen

.PHONY: demo test bench lint format setup setup-raytrace clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/bootstrap.sh
	@./scripts/bootstrap.sh

# optional: ray-traced coisac channels (sionna-rt, ~0.7 GB, and Debian's libllvm19); not in setup
setup-raytrace: setup
	@./scripts/setup_raytrace.sh

demo: setup
	$(VENV)/bin/cfisac demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(VENV)/bin/cfisac bench all
	$(PY) -m pytest -q -m slow -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) bench build *.egg-info
