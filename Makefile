# The two commands of the README: `make demo` and `make test`. Both set up from nothing.
# TORCH is the torch this project's CPU machines install: their pip resolves torch==2.13.0 to a local CPU
# wheel. Where pip reaches plain PyPI, that pin is the CUDA build (several GB); get the CPU one with
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
# A GPU user installs their own torch first (or `pip install -e ".[vllm]"`, whose verl extra pins a CUDA torch).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
# The verl release `make test` runs against (pyproject allows >=0.9.1,<0.11; pinned here so that CI keeps testing the
# release the README's table names when a newer one appears on PyPI; `make test-verl-main` covers the next one).
VERL ?= verl[verl-core]==0.9.1

.PHONY: setup demo test test-verl-main e2e e2e-verl-main bench gpu-wheels gpu-check

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PYTHON) -m pip install --quiet -e ".[test]" "$(VERL)"
	touch $@

demo: setup
	$(PYTHON) -m abc_grpo_verl.demo

test: setup
	$(PYTHON) -m pytest -q -p no:cacheprovider

# The same suite against verl's next release: the snapshot of verl main (0.10.0.dev) in ../shared/verl-main/, which
# only the project's own machines and CI have (a user's clone skips this, saying so). It builds .venv-verl-main with
# that verl, this package without its verl pin (--no-deps: main's verl-core extra takes TransferQueue from a git URL,
# which these offline machines cannot fetch, and more GPU-side packages), this package's other dependencies, and what
# of that extra verl's trainer imports on CPU.
VERL_MAIN_SDIST := $(firstword $(wildcard ../shared/verl-main/verl-*.tar.gz))
VENV_MAIN ?= .venv-verl-main
VERL_MAIN_MISSING := cachetools uvicorn fastapi TransferQueue
ifeq ($(VERL_MAIN_SDIST),)
test-verl-main:
	@echo "test-verl-main: SKIPPED: no verl main snapshot at ../shared/verl-main/verl-*.tar.gz"
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

# verl's real trainer end to end on a CPU (e2e/README.md): the recipes themselves, with vLLM's CPU build as the rollout
# and an FSDP2 actor, on a tiny Qwen3 and GSM8K-format data made here; then the test of what the logs must show,
# the report on the runs and the ABC-vs-GRPO cost table. About 15 minutes on 2 cores, setup (~4 GB) included.
VENV_E2E ?= .venv-e2e
E2E_DIR ?= runs/e2e
E2E_TIMEOUT ?= 600
E2E_ONLY ?= abc,grpo,dualclip,abc_legacy
E2E_VERL ?= verl==0.9.1
comma := ,
E2E_RUN_NAMES := $(subst $(comma), ,$(E2E_ONLY))
e2e: $(VENV_E2E)/.installed
	rm -rf $(E2E_DIR)
	$(VENV_E2E)/bin/python e2e/make_fixture.py $(E2E_DIR)/fixture
	$(VENV_E2E)/bin/python e2e/run.py --fixture $(E2E_DIR)/fixture --output-dir $(E2E_DIR) --timeout $(E2E_TIMEOUT) \
	  --only $(E2E_ONLY)
	$(VENV_E2E)/bin/python -m abc_grpo_verl.report $(foreach run,$(E2E_RUN_NAMES),$(run)=$(E2E_DIR)/$(run)) \
	  --output-dir $(E2E_DIR)/report
	$(if $(filter grpo,$(E2E_RUN_NAMES)),$(VENV_E2E)/bin/python e2e/performance.py $(E2E_DIR))
	E2E_RUNS=$(E2E_DIR) E2E_ONLY=$(E2E_ONLY) $(VENV_E2E)/bin/python -m pytest -q -p no:cacheprovider e2e/test_e2e.py

$(VENV_E2E)/.installed: e2e/setup.sh $(wildcard e2e/cpu_glue/*.toml e2e/cpu_glue/*/*.py) pyproject.toml
	VERL="$(E2E_VERL)" TORCH_INDEX="$(TORCH_INDEX)" bash e2e/setup.sh $(VENV_E2E)

# The ABC run (with its resume) on verl main, the snapshot in ../shared/verl-main/ (SKIPPED without one).
ifeq ($(VERL_MAIN_SDIST),)
e2e-verl-main:
	@echo "e2e-verl-main: SKIPPED: no verl main snapshot at ../shared/verl-main/verl-*.tar.gz"
else
e2e-verl-main:
	$(MAKE) e2e VENV_E2E=.venv-e2e-verl-main E2E_DIR=runs/e2e-verl-main E2E_ONLY=abc E2E_VERL="$(VERL_MAIN_SDIST)"
endif

# the configuration of docs/performance.md (about 5 minutes on 2 CPU cores); add BENCH_ARGS="--device cuda" on a GPU.
# One intra-op thread: on a shared machine two threads stall on each other's barrier whenever the other core is busy.
BENCH_SHAPES ?= 64x1024,256x4096,128x16384,1024x8192
bench: setup
	$(PYTHON) bench/bench_loss.py --shapes $(BENCH_SHAPES) --repeats 7 --threads 1 $(BENCH_ARGS)

# GPU check (gpu/README.md): the loss, an actor update through verl's FSDP engine, the demo and the evaluation on
# one GPU, with a report in docs/gpu/. On a CPU machine, first: `make gpu-wheels` (the ~7 MiB of wheels the GPU
# image lacks, into the git-ignored .whl/). On an offline GPU machine without verl, copy the tree with .whl/ and run
#   bash gpu/run.sh --commit <short sha>
# (about 6-7 minutes: the parts' budgets add up to 400 s under a 420 s deadline). `make gpu-check` runs the same
# script; `make gpu-check GPU_DEVICE=cpu` runs the harness at toy sizes on a CPU, as CI does.
GPU_DEVICE ?= cuda
gpu-wheels: setup
	$(PYTHON) gpu/wheels.py download

ifeq ($(GPU_DEVICE),cpu)
gpu-check: setup
	$(PYTHON) gpu/check.py --device cpu $(GPU_CHECK_ARGS)
else
gpu-check:
	bash gpu/run.sh $(GPU_CHECK_ARGS)
endif
