#!/usr/bin/env bash
# The ABC-GRPO paper's Qwen3-1.7B-Base ABC-GRPO run (arXiv 2601.03895, Table 3): DAPO-Math-17k, group size 8,
# the four widths at 0.2, lr 1e-6 cosine with 10% warm-up, 4 optimizer steps per rollout batch, no KL.
# Its matched baseline is run_qwen3_1.7b_base_grpo.sh. Settings and their sources: recipes/README.md.
#   bash recipes/paper/run_qwen3_1.7b_base_abc.sh [verl overrides...]
# Data: examples/data_preprocess/dapo_math.py (train) and math_dataset.py (MATH-500 validation) under $DATA_DIR.
set -xeuo pipefail

# the four widths (CLIP_POS_HIGH, CLIP_POS_LOW, CLIP_NEG_HIGH, CLIP_NEG_LOW) default in common.sh, where the
# baselines read them too as their reporting band
EXPERIMENT_NAME=${EXPERIMENT_NAME:-qwen3_1.7b_base_dapo_math_abc}

# the model, GPU, node, data and batch-size knobs this run shares with its baseline(s) live in qwen3_1.7b_base.sh
source "$(dirname "${BASH_SOURCE[0]}")/qwen3_1.7b_base.sh"
launch abc_grpo "$@"
