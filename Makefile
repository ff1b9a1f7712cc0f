# The two commands of the README: `make demo` and `make test`. Both set up from nothing.
# TORCH is the torch this project's CPU machines install: their pip resolves torch==2.13.0 to a local CPU
# wheel. Where pip reaches plain PyPI, that pin is the CUDA build (several GB); get the CPU one with
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
# A GPU user installs their own torch first (or `pip install -e ".[vllm]"`, whose verl extra pins a CUDA torch).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: setup demo test test-verl-main bench

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

# The same suite against verl's next release: the snapshot of verl main (0.10.0.dev) in ../shared/verl-main/, which
# only the project's own machines and CI have (a user's clone skips this, saying so). It builds .venv-verl-main with
# that verl, this package without its verl pin (--no-deps: main has no verl-core extra), this package's other
# dependencies, and what verl main's plain install lacks but its trainer imports (0.9.1's verl-core extra brought it).
VERL_MAIN_SDIST := $(firstword $(wildcard ../shared/verl-main/verl-*.tar.gz))
VENV_MAIN ?= .venv-verl-main
VERL_MAIN_MISSING := cachetools uvicorn fastapi
ifeq ($(VERL_MAIN_SDIST),)
test-verl-main:
	@echo "test-verl-main: SKIPPED: no verl main snapshot at ../shared/verl-main/verl-*.tar.gz (only the project's machines have it)"
else
test-verl-main: $(VENV_MAIN)/.installed
	$(VENV_MAIN)/bin/python -m pytest -q -p no:cacheprovider

$(VENV_MAIN)/.installed: pyproject.toml $(VERL_MAIN_SDIST)
	python3 -m venv $(VENV_MAIN)
	$(VENV_MAIN)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_MAIN)/bin/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(VENV_MAIN)/bin/python -m pip install --quiet "$(VERL_MAIN_SDIST)"
	$(VENV_MAIN)/bin/python -m pip install --quiet --no-deps -e .
	$(VENV_MAIN)/bin/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  print("\n".join(d for d in p["dependencies"] + p["optional-dependencies"]["test"] if not d.startswith("verl")))' \
	  > $(VENV_MAIN)/plugin-requirements.txt
	$(VENV_MAIN)/bin/python -m pip install --quiet -r $(VENV_MAIN)/plugin-requirements.txt $(VERL_MAIN_MISSING)
	$(VENV_MAIN)/bin/python -c "import verl, abc_grpo_verl.algos; print('verl', verl.__version__, 'from', verl.__file__)"
	touch $@
endif

# the configuration of docs/performance.md (about 6 minutes on 2 CPU cores); add BENCH_ARGS="--device cuda" on a GPU
BENCH_SHAPES ?= 64x1024,256x4096,128x16384,1024x8192
bench: setup
	$(PYTHON) bench/bench_loss.py --shapes $(BENCH_SHAPES) --repeats 7 $(BENCH_ARGS)
