#!/usr/bin/env bash
# The GPU check on the lent GPU machine, in one command (gpu/README.md): install the carried wheels (.whl/, made by
# `make gpu-wheels` on a CPU machine) into a scratch folder, then run gpu/check.py on cuda. Arguments go to check.py.
# The report goes to $OUT (the folder the device tool returns), else docs/gpu.
set -euo pipefail
cd "$(dirname "$0")/.."
site="${GPU_CHECK_SITE:-/tmp/abc-grpo-gpu-site}"
if ! compgen -G ".whl/*.whl" > /dev/null; then
    echo "gpu/run.sh: no wheels in .whl/: run 'make gpu-wheels' on a CPU machine and carry .whl" >&2
    exit 2
fi
python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
exec python3 gpu/check.py --device cuda --out "${OUT:-docs/gpu}" "$@"
