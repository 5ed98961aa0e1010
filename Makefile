# brainssl: the two commands of the README's Quick start.
#   make demo  -> set up .venv and run the main job on the embedded synthetic data
#   make test  -> set up .venv, check the export, run nbdev-test over nbs/ and pytest over tests/
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
OUT   ?= demo_out
# torch + torchvision come from the local wheel cache here; see README "Install"
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test test-nbs test-py check-export slow docs readme clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/brainssl demo --out $(OUT)

check-export: setup
	$(BIN)/nbdev-export
	@git diff --quiet -- brainssl || { echo "nbdev-export changed brainssl/: notebooks and package disagree"; git --no-pager diff --stat -- brainssl; exit 1; }
	$(PY) tools/render_readme.py --check

# the federated notebook and tests need Flower + Ray: an optional extra, installed for the test suite only
$(VENV)/.federated: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev,federated]"
	touch $@

test-nbs: setup $(VENV)/.federated
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 --timing

test-py: setup $(VENV)/.federated
	$(BIN)/pytest -q tests

test: check-export test-nbs test-py

# the slower notebook cells (tiny training runs on real data) before a release
slow: setup $(VENV)/.federated
	$(BIN)/nbdev-test --flags slow --n-workers 1 --timing

docs: setup
	$(PY) -m pip install -q -e ".[docs]"
	$(BIN)/nbdev-docs

readme: setup
	$(PY) tools/render_readme.py

clean:
	rm -rf $(OUT) _docs _proc .pytest_cache
