#!/usr/bin/env bash
# Baseline for run_qwen3_8b_abc.sh: the identical run with verl's GRPO (vanilla PPO-clip loss, grpo estimator).
# verl's vanilla loss keeps its dual-clip at clip_ratio_c=3 (verl's default), as verl users run GRPO.
#   bash recipes/run_qwen3_8b_grpo.sh [verl overrides...]
set -xeuo pipefail

# PPO clip range [1 - low, 1 + high]; dual-clip bound c for A<0 (verl's default)
CLIP_RATIO_LOW=${CLIP_RATIO_LOW:-0.2}
CLIP_RATIO_HIGH=${CLIP_RATIO_HIGH:-0.2}
CLIP_RATIO_C=${CLIP_RATIO_C:-3.0}
EXPERIMENT_NAME=${EXPERIMENT_NAME:-qwen3_8b_gsm8k_math_grpo}

# the model, GPU, node, data and batch-size knobs this run shares with its baseline(s) live in qwen3_8b_gsm8k_math.sh
source "$(dirname "${BASH_SOURCE[0]}")/qwen3_8b_gsm8k_math.sh"
launch vanilla "$@"
