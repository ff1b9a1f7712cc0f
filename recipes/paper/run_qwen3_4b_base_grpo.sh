#!/usr/bin/env bash
# The ABC-GRPO paper's Qwen3-4B-Base GRPO baseline (arXiv 2601.03895, Table 3): identical to
# run_qwen3_4b_base_abc.sh except for the loss: PPO-clip with eps 0.2 and, as TRL's GRPO loss the
# authors ran, no dual-clip.
#   bash recipes/paper/run_qwen3_4b_base_grpo.sh [verl overrides...]
# Data: examples/data_preprocess/dapo_math.py (train) and math_dataset.py (MATH-500 validation) under $DATA_DIR.
set -xeuo pipefail

CLIP_RATIO_LOW=${CLIP_RATIO_LOW:-0.2}
CLIP_RATIO_HIGH=${CLIP_RATIO_HIGH:-0.2}
# above any ratio verl computes (it clamps log-ratios to +-20, e^20 < 5e8): dual-clip off
CLIP_RATIO_C=${CLIP_RATIO_C:-1e9}
EXPERIMENT_NAME=${EXPERIMENT_NAME:-qwen3_4b_base_dapo_math_grpo}

# the model, GPU, node, data and batch-size knobs this run shares with its baseline(s) live in qwen3_4b_base.sh
source "$(dirname "${BASH_SOURCE[0]}")/qwen3_4b_base.sh"
launch vanilla "$@"
