# The two commands of the README: `make demo` and `make test`. Both set up from nothing.
# TORCH is the torch this project's CPU machines install: their pip resolves torch==2.13.0 to a local CPU
# wheel. Where pip reaches plain PyPI, that pin is the CUDA build (several GB); get the CPU one with
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
# A GPU user installs their own torch first (or `pip install -e ".[vllm]"`, whose verl extra pins a CUDA torch).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: setup demo test bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(PYTHON) -m abc_grpo_verl.demo

test: setup
	$(PYTHON) -m pytest -q -p no:cacheprovider

# the configuration of docs/performance.md (about 6 minutes on 2 CPU cores); add BENCH_ARGS="--device cuda" on a GPU
BENCH_SHAPES ?= 64x1024,256x4096,128x16384,1024x8192
bench: setup
	$(PYTHON) bench/bench_loss.py --shapes $(BENCH_SHAPES) --repeats 7 $(BENCH_ARGS)
