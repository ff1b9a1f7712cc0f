#!/usr/bin/env bash
# ABC-GRPO on Qwen3-8B, GSM8K + MATH: the abc_grpo loss with the paper's four widths (0.2 each), the abc_grpo
# estimator, no KL; FSDP actor + vLLM rollout (hybrid engine) on one 8-GPU node by default.
#   bash recipes/run_qwen3_8b_abc.sh [verl overrides...]
# Data: examples/data_preprocess/gsm8k.py and math_dataset.py, written under $DATA_DIR.
# ABC_GRPO_DRY_RUN=1 composes and validates the full config (CPU is enough) and exits without starting Ray.
set -xeuo pipefail

# the four widths (CLIP_POS_HIGH, CLIP_POS_LOW, CLIP_NEG_HIGH, CLIP_NEG_LOW) default in common.sh, where the
# baselines read them too as their reporting band
EXPERIMENT_NAME=${EXPERIMENT_NAME:-qwen3_8b_gsm8k_math_abc_grpo}

# the model, GPU, node, data and batch-size knobs this run shares with its baseline(s) live in qwen3_8b_gsm8k_math.sh
source "$(dirname "${BASH_SOURCE[0]}")/qwen3_8b_gsm8k_math.sh"
launch abc_grpo "$@"
