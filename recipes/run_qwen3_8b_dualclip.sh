#!/usr/bin/env bash
# Ablation for run_qwen3_8b_abc.sh: verl's vanilla loss with dual-clip c = 1.2. For A<0 this bounds the ratio at
# 1.2 like ABC's eps3 = 0.2 (Q4), but Q2 (A>0, r<0.8) stays unclipped and clipped tokens keep PPO's min form, so
# the gap to the ABC run is what ABC adds on verl beyond a tight Q4 bound.
#   bash recipes/run_qwen3_8b_dualclip.sh [verl overrides...]
set -xeuo pipefail

CLIP_RATIO_LOW=${CLIP_RATIO_LOW:-0.2}
CLIP_RATIO_HIGH=${CLIP_RATIO_HIGH:-0.2}
CLIP_RATIO_C=${CLIP_RATIO_C:-1.2}
EXPERIMENT_NAME=${EXPERIMENT_NAME:-qwen3_8b_gsm8k_math_dualclip}

# the model, GPU, node, data and batch-size knobs this run shares with its baseline(s) live in qwen3_8b_gsm8k_math.sh
source "$(dirname "${BASH_SOURCE[0]}")/qwen3_8b_gsm8k_math.sh"
launch vanilla "$@"
