#!/usr/bin/env bash
# The figures and the full report of docs/study.md, from the outputs of docs/study/run_study.sh.
#   bash docs/study/figures.sh [OUT]            # OUT defaults to runs/study, as for run_study.sh
# Each figure is the training-dynamics report's own, limited to the panels the page discusses and stored with a
# 256-colour palette (Pillow) to keep the repository small; dynamics.md is the report over all settings, verbatim.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/study}
PYTHON=${PYTHON:-.venv/bin/python}
PANELS=actor/entropy,critic/score/mean,val-core/,actor/abc_clipfrac_q2,actor/abc_clipfrac_q4,band/
for name in u4_lr2e-4 u16_lr2e-4 u4_lr1e-3 collapse; do
  "${PYTHON}" -m abc_grpo_verl.report "${OUT}/${name}" --smooth 10 --panels "${PANELS}" \
    --output-dir "${OUT}/figures/${name}" > /dev/null
  "${PYTHON}" -c 'import sys; from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(sys.argv[2], optimize=True)' \
    "${OUT}/figures/${name}/dynamics.png" "docs/study/${name}.png"
done
cp "${OUT}/report/dynamics.md" docs/study/dynamics.md
