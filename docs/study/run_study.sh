#!/usr/bin/env bash
# The CPU study of docs/study.md: ABC-GRPO vs GRPO vs dual-clip with the demo's machinery on 5 seeds, sweeping the
# optimizer steps per rollout batch (1, 4, 16) and the learning rate, plus a 5-seed repeat of the exploratory
# high-learning-rate run of docs/demo.md. One process at a time, lowest priority; hours on 2 shared cores.
#   bash docs/study/run_study.sh [OUT]          # OUT defaults to runs/study (git-ignored)
# Each setting writes OUT/<setting>/{metrics.jsonl,summary.md,dynamics.png} and its report OUT/<setting>/report/;
# a setting whose metrics.jsonl exists is not run again, so an interrupted study resumes where it stopped. Then one
# report over all settings: OUT/report/dynamics.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/study}
PYTHON=${PYTHON:-.venv/bin/python}
SEEDS=(0 1 2 3 4)
mkdir -p "${OUT}"

# name | demo flags. Optimizer steps per rollout batch = mini-batches x epochs. The demo itself runs 60 steps.
SETTINGS=(
  # the paper's 4 optimizer steps per rollout, at the demo's learning rate
  "u4_lr2e-4|--steps 200 --mini-batches 4 --ppo-epochs 1 --lr 2e-4"
  # the control: one update per rollout, so r = 1 at every update and no method ever clips
  "u1_lr2e-4|--steps 200 --mini-batches 1 --ppo-epochs 1 --lr 2e-4"
  # docs/demo.md's exploratory run: lr 1e-3 without warm-up, 8 updates per rollout, warm start stopped at 30%
  "collapse|--steps 60 --mini-batches 4 --ppo-epochs 2 --lr 1e-3 --lr-warmup-steps 0 --warm-target 0.3"
  # 16 updates per rollout: every token revisited in 4 epochs
  "u16_lr2e-4|--steps 200 --mini-batches 4 --ppo-epochs 4 --lr 2e-4"
  # the paper's 4 updates at 5x the learning rate
  "u4_lr1e-3|--steps 200 --mini-batches 4 --ppo-epochs 1 --lr 1e-3"
)
settings=()
for setting in "${SETTINGS[@]}"; do
  name=${setting%%|*}
  flags=${setting#*|}
  settings+=("${OUT}/${name}")
  [[ -f "${OUT}/${name}/metrics.jsonl" ]] && continue
  start=$(date +%s)
  # shellcheck disable=SC2086  # flags are words
  nice -n 19 "${PYTHON}" -m abc_grpo_verl.demo --seeds "${SEEDS[@]}" --eval-every 10 ${flags} \
    --output-dir "${OUT}/${name}" > "${OUT}/${name}.log" 2>&1
  echo "${name}: $(( $(date +%s) - start )) s wall, finished $(date -Is)" | tee -a "${OUT}/timing.txt"
done
for dir in "${settings[@]}"; do
  nice -n 19 "${PYTHON}" -m abc_grpo_verl.report "${dir}" --output-dir "${dir}/report" > /dev/null
done
nice -n 19 "${PYTHON}" -m abc_grpo_verl.report "${settings[@]}" --output-dir "${OUT}/report" > /dev/null
