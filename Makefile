# brainssl: the two commands of the README's Quick start.
#   make demo  -> set up .venv and run the main job on the embedded synthetic data
#   make test  -> set up .venv, check the export, run nbdev-test over nbs/ and pytest over tests/
#   make outputs [NB=nbs/10_views.ipynb]  -> run notebooks on 2 CPU threads and save their cleaned outputs + code hash
#   make check-outputs                    -> fail if a notebook's code changed since its outputs were made
#   make docs  -> the docs site in _docs/ (Quarto's nbdev-docs if `quarto` is on PATH, else offline: tools/build_docs.py)
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
OUT   ?= demo_out
# torch + torchvision come from the local wheel cache here; see README "Install"
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test test-nbs test-py check-export slow outputs check-outputs docs lab readme clean

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

# JupyterLab, a kernel, the widget front ends and kaleido (static PNGs of plotly figures): the [notebooks] extra
$(VENV)/.notebooks: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[notebooks]"
	touch $@

# NB= one or more notebooks (default: all of nbs/); THREADS= CPU threads per notebook, JOBS= notebooks at once
# (2 cores: THREADS=2 JOBS=1, or THREADS=1 JOBS=2 as nbdev-test --n-workers 2); FLAGS=slow also runs the #| slow cells
NB      ?=
THREADS ?= 2
JOBS    ?= 1
FLAGS   ?=
outputs: setup $(VENV)/.notebooks $(VENV)/.federated
	$(PY) tools/nb_outputs.py --threads $(THREADS) --jobs $(JOBS) $(if $(FLAGS),--flags "$(FLAGS)") $(NB)

check-outputs:
	python3 tools/check_outputs.py $(NB)

# the tutorials in JupyterLab; slow real-data cells stay off unless BRAINSSL_SLOW=1 (or SLOW = True in the notebook)
lab: setup $(VENV)/.notebooks
	$(BIN)/jupyter lab nbs

$(VENV)/.docs: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[docs]"
	touch $@

# Quarto where it is installed (nbdev's own pipeline, nbs/_quarto.yml); otherwise the offline path, same _docs/
docs: setup $(VENV)/.docs
	@if command -v quarto >/dev/null 2>&1; then echo "make docs: Quarto found, running nbdev-docs"; $(BIN)/nbdev-docs; \
	else echo "make docs: no Quarto, offline path (nbdev processing + tools/build_docs.py)"; \
	  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) tools/build_docs.py --n-workers 2; fi

readme: setup
	$(PY) tools/render_readme.py

clean:
	rm -rf $(OUT) _docs _proc .pytest_cache nbs/sidebar.yml
