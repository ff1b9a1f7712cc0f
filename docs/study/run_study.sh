#!/usr/bin/env bash
# The CPU study of docs/study.md: ABC-GRPO vs GRPO vs dual-clip with the demo's machinery, 5 seeds, 200 rollout steps
# (the demo runs 60), sweeping the optimizer steps per rollout batch and the learning rate; then one more setting that
# repeats the exploratory high-learning-rate run of docs/demo.md on 5 seeds. One process at a time, lowest priority.
#   bash docs/study/run_study.sh [OUT]          # OUT defaults to runs/study (git-ignored); hours on 2 shared cores
# Each setting writes OUT/<setting>/{metrics.jsonl,summary.md,dynamics.png} and its report OUT/<setting>/report/.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/study}
PYTHON=${PYTHON:-.venv/bin/python}
SEEDS=(0 1 2 3 4)
STEPS=200
mkdir -p "${OUT}"

# name | demo flags. Optimizer steps per rollout batch = mini-batches x epochs: 1, 4 (the paper's), 16.
SETTINGS=(
  "u4_lr2e-4|--mini-batches 4 --ppo-epochs 1 --lr 2e-4"
  "u1_lr2e-4|--mini-batches 1 --ppo-epochs 1 --lr 2e-4"
  "u16_lr2e-4|--mini-batches 4 --ppo-epochs 4 --lr 2e-4"
  "u4_lr1e-3|--mini-batches 4 --ppo-epochs 1 --lr 1e-3"
  # docs/demo.md's exploratory run: lr 1e-3 without warm-up, 8 updates per rollout, warm start stopped at 30%
  "collapse|--mini-batches 4 --ppo-epochs 2 --lr 1e-3 --lr-warmup-steps 0 --warm-target 0.3 --steps 60"
)
for setting in "${SETTINGS[@]}"; do
  name=${setting%%|*}
  flags=${setting#*|}
  start=$(date +%s)
  # shellcheck disable=SC2086  # flags are words
  nice -n 19 "${PYTHON}" -m abc_grpo_verl.demo --seeds "${SEEDS[@]}" --steps "${STEPS}" --eval-every 10 ${flags} \
    --output-dir "${OUT}/${name}" > "${OUT}/${name}.log" 2>&1
  echo "${name}: $(( $(date +%s) - start )) s wall, finished $(date -Is)" | tee -a "${OUT}/timing.txt"
  nice -n 19 "${PYTHON}" -m abc_grpo_verl.report "${OUT}/${name}" --output-dir "${OUT}/${name}/report" > /dev/null
done
