# Set-up, tests and demo of mmdla.
#
#   make test        set up the environment if needed, then run the tests
#   make demo        set up the environment if needed, then run the demo
#   make setup       only set up the environment
#   make check-env   print the installed stack and its known problems
#   make clean-venv  delete the repository's .venv
#
# The environment is the active virtual environment when VIRTUAL_ENV is set,
# otherwise .venv in the repository root (created with $(BOOTSTRAP_PYTHON)).
# Set-up installs the verified stack of requirements/ in the order it needs
# (see README.md, "Installation") and leaves a stamp in the environment, named
# after a checksum of the files that define it; while the stamp is there,
# set-up is skipped. Edit one of these files, or delete the stamp, and the next
# run checks and installs again, skipping what is already installed.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

BOOTSTRAP_PYTHON ?= python3
VENV := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),$(CURDIR)/.venv)
PYTHON := $(VENV)/bin/python
PIP := PIP_DISABLE_PIP_VERSION_CHECK=1 $(PYTHON) -m pip
PIP_INSTALL := $(PIP) install --quiet --progress-bar off

SETUP_INPUTS := Makefile setup.py tools/install_mmcv.sh \
	$(sort $(wildcard requirements/*.txt))
SETUP_CHECKSUM := $(shell cat $(SETUP_INPUTS) | cksum | cut -d ' ' -f 1)
STAMP := $(VENV)/.mmdla-setup-$(SETUP_CHECKSUM)

.PHONY: setup test demo check-env clean-venv

setup: $(STAMP)

test: setup
	$(PYTHON) -m pytest -q tests

demo: setup
	$(PYTHON) tools/demo.py
	@echo "To run the commands of README.md: source $(VENV)/bin/activate"

check-env: setup
	$(PYTHON) tools/check_env.py

clean-venv:
	rm -rf $(CURDIR)/.venv

$(PYTHON):
ifdef VIRTUAL_ENV
	$(error VIRTUAL_ENV=$(VIRTUAL_ENV) has no bin/python; deactivate it or fix it)
else
	$(BOOTSTRAP_PYTHON) -m venv $(VENV)
endif

$(STAMP): | $(PYTHON)
	@echo "Setting up $(VENV) (first run on a new machine: about 20 minutes)"
	$(PIP_INSTALL) --upgrade pip
	@# PyTorch first; it pulls in a setuptools without pkg_resources ...
	$(PIP_INSTALL) -r requirements/runtime.txt
	@# ... so setuptools<70 comes right after it, and before the MMCV build.
	@echo "pip reports a conflict with torch's setuptools>=77: expected, harmless"
	$(PIP_INSTALL) -r requirements/build.txt
	$(PYTHON) -c "import pkg_resources" 2>/dev/null || { echo \
		"error: setuptools without pkg_resources; see requirements/build.txt" \
		>&2; exit 1; }
	bash tools/install_mmcv.sh $(PYTHON)
	$(PIP_INSTALL) -r requirements/det.txt -r requirements/cls.txt \
		-r requirements/seg.txt -r requirements/tests.txt
	@# grad-cam depends on torch, so pip upgrades setuptools to torch's >=77
	@# again: bring back setuptools<70 (pkg_resources)
	$(PIP_INSTALL) -r requirements/build.txt
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	$(PYTHON) tools/check_env.py
	rm -f $(VENV)/.mmdla-setup-*
	touch $@
	@echo "Set-up done. Activate the environment in your shell before running"
	@echo "the commands of README.md: source $(VENV)/bin/activate"
