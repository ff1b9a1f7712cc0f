#!/usr/bin/env bash
# The GPU check on an offline GPU machine without verl, in one command (gpu/README.md): install the wheels copied
# along in .whl/ (made by `make gpu-wheels` on a machine with internet) into a scratch folder, then run gpu/check.py
# on cuda. Arguments go to check.py. The report goes to $OUT if set, else docs/gpu.
set -euo pipefail
cd "$(dirname "$0")/.."
site="${GPU_CHECK_SITE:-/tmp/abc-grpo-gpu-site}"
if ! compgen -G ".whl/*.whl" > /dev/null; then
    echo "gpu/run.sh: no wheels in .whl/: run 'make gpu-wheels' on a machine with internet and copy .whl/ along" >&2
    exit 2
fi
python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
exec python3 gpu/check.py --device cuda --out "${OUT:-docs/gpu}" "$@"
