# Two commands: `make demo` trains the demo end to end, `make test` runs the test suite.
# Each creates .venv and installs the package from setup.cfg first.
# Platform tiers (also run by .ci/run): `make test-image` (the ModelArts image: Python 3.9, MindSpore 2.0.0, no
# optional packages) and `make test-cpp` (cpp_infer built and run against the mindspore-lite 2.0.0 C++ runtime, and
# linked against the image tier's mindspore 2.0.0 libmindspore.so) and `make test-serve` (a model package served on
# Python 3.7 with only its declared dependencies).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

# The tiers' interpreters: pyenv's 3.9 and 3.7 when present, else python3.9 / python3.7 on PATH.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null)
IMAGE_PYTHON ?= $(or $(lastword $(wildcard $(PYENV_ROOT)/versions/3.9.*/bin/python)),$(shell command -v python3.9))
LITE_PYTHON ?= $(or $(lastword $(wildcard $(PYENV_ROOT)/versions/3.7.*/bin/python)),$(shell command -v python3.7))
IMAGE_VENV := .venv-image
LITE_VENV := .venv-lite
# The model service tier: Python 3.7 (the inference images' Python) with only a CPU model package's declared
# dependencies.
SERVE_PYTHON ?= $(LITE_PYTHON)
SERVE_VENV := .venv-serve
# Downloaded once, kept out of git: a second run of the tier needs no network.
WHEEL_CACHE := .cache/wheels
LITE_WHEEL := $(WHEEL_CACHE)/mindspore_lite-2.0.0-cp37-cp37m-manylinux1_x86_64.whl

.PHONY: demo test test-all test-image test-cpp test-serve clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,demo]'
	touch $@

$(IMAGE_VENV)/.installed: tests/image/requirements.txt
	@test -n "$(IMAGE_PYTHON)" || { echo "error: no Python 3.9 found (pyenv install 3.9, or IMAGE_PYTHON=...)" >&2; exit 1; }
	$(IMAGE_PYTHON) -m venv $(IMAGE_VENV)
	$(IMAGE_VENV)/bin/python -m pip install --quiet -r tests/image/requirements.txt
	touch $@

$(LITE_WHEEL):
	mkdir -p $(WHEEL_CACHE)
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.7 -d $(WHEEL_CACHE) mindspore-lite==2.0.0

$(LITE_VENV)/.installed: $(LITE_WHEEL)
	@test -n "$(LITE_PYTHON)" || { echo "error: no Python 3.7 found (pyenv install 3.7, or LITE_PYTHON=...)" >&2; exit 1; }
	$(LITE_PYTHON) -m venv $(LITE_VENV)
	$(LITE_VENV)/bin/python -m pip install --quiet $(LITE_WHEEL)
	touch $@

$(SERVE_VENV)/.installed: wrn/serving/requirements.txt
	@test -n "$(SERVE_PYTHON)" || { echo "error: no Python 3.7 found (pyenv install 3.7, or SERVE_PYTHON=...)" >&2; exit 1; }
	$(SERVE_PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/python -m pip install --quiet -r wrn/serving/requirements.txt
	touch $@

demo: $(VENV)/.installed
	$(PY) -m wrn.cli demo

# Two workers (pytest-xdist) taking tests one at a time and stealing from each other's queue (worksteal), so one
# long file does not leave a core idle; the expensive fixtures (a trained run, a package) are made once per session
# and shared by both workers (tests/conftest.py made_once). Most tests wait on a MindSpore subprocess, so two at a
# time keep both cores busy.
TEST_WORKERS ?= 2
test: $(VENV)/.installed
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m "not image and not cpp and not serve" --durations=15

test-image: $(VENV)/.installed $(IMAGE_VENV)/.installed
	$(PY) -m pytest -q -m image tests/image --durations=10

test-cpp: $(VENV)/.installed $(LITE_VENV)/.installed $(IMAGE_VENV)/.installed
	$(PY) -m pytest -q -m cpp tests/cpp --durations=10

test-serve: $(VENV)/.installed $(SERVE_VENV)/.installed
	$(PY) -m pytest -q -m serve tests/serve --durations=10

clean:
	rm -rf $(VENV) $(IMAGE_VENV) $(LITE_VENV) $(SERVE_VENV) demo *.egg-info cpp_infer/build
