# The two commands of the README: `make demo` and `make test`. Both set up from nothing.
# TORCH is the CPU build this project's machines install; a GPU user installs their own torch first
# (or `pip install -e ".[vllm]"`, whose verl extra pins a CUDA torch).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH ?= torch==2.13.0

.PHONY: setup demo test bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet "$(TORCH)"
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(PYTHON) -m abc_grpo_verl.demo

test: setup
	$(PYTHON) -m pytest -q -p no:cacheprovider

bench: setup
	$(PYTHON) bench/bench_loss.py
