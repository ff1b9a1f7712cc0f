#!/usr/bin/env bash
# Ablation for run_qwen3_8b_abc.sh: verl's vanilla loss with dual-clip c = 1.2. For A<0 this bounds the ratio at
# 1.2 like ABC's eps3 = 0.2 (Q4), but Q2 (A>0, r<0.8) stays unclipped and clipped tokens keep PPO's min form, so
# the gap to the ABC run is what ABC adds on verl beyond a tight Q4 bound.
#   bash recipes/run_qwen3_8b_dualclip.sh [verl overrides...]
set -xeuo pipefail

MODEL_PATH=${MODEL_PATH:-Qwen/Qwen3-8B}
N_GPUS=${N_GPUS:-8}
NNODES=${NNODES:-1}
DATA_DIR=${DATA_DIR:-$HOME/data}
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-1024}
PPO_MINI_BATCH_SIZE=${PPO_MINI_BATCH_SIZE:-256}
ROLLOUT_N=${ROLLOUT_N:-8}
CLIP_RATIO_LOW=${CLIP_RATIO_LOW:-0.2}
CLIP_RATIO_HIGH=${CLIP_RATIO_HIGH:-0.2}
CLIP_RATIO_C=${CLIP_RATIO_C:-1.2}
TRAIN_FILES=${TRAIN_FILES:-"['${DATA_DIR}/gsm8k/train.parquet','${DATA_DIR}/math/train.parquet']"}
VAL_FILES=${VAL_FILES:-"['${DATA_DIR}/gsm8k/test.parquet','${DATA_DIR}/math/math500.parquet']"}
EXPERIMENT_NAME=${EXPERIMENT_NAME:-qwen3_8b_gsm8k_math_dualclip}

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
launch vanilla "$@"
