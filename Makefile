# Two commands: `make demo` trains the demo end to end, `make test` runs the test suite.
# Each creates .venv and installs the package from setup.cfg first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-all bench-smoke clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,demo]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m wrn.cli demo

test: $(VENV)/.installed
	$(PY) -m pytest -q --durations=15

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m "" --durations=15

clean:
	rm -rf $(VENV) demo *.egg-info
