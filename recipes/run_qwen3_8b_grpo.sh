#!/usr/bin/env bash
# Baseline for run_qwen3_8b_abc.sh: the identical run with verl's GRPO (vanilla PPO-clip loss, grpo estimator).
# verl's vanilla loss keeps its dual-clip at clip_ratio_c=3 (verl's default), as verl users run GRPO.
#   bash recipes/run_qwen3_8b_grpo.sh [verl overrides...]
set -xeuo pipefail

MODEL_PATH=${MODEL_PATH:-Qwen/Qwen3-8B}
N_GPUS=${N_GPUS:-8}
NNODES=${NNODES:-1}
DATA_DIR=${DATA_DIR:-$HOME/data}
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-1024}
PPO_MINI_BATCH_SIZE=${PPO_MINI_BATCH_SIZE:-256}
ROLLOUT_N=${ROLLOUT_N:-8}
# PPO clip range [1 - low, 1 + high]; dual-clip bound c for A<0 (verl's default)
CLIP_RATIO_LOW=${CLIP_RATIO_LOW:-0.2}
CLIP_RATIO_HIGH=${CLIP_RATIO_HIGH:-0.2}
CLIP_RATIO_C=${CLIP_RATIO_C:-3.0}
TRAIN_FILES=${TRAIN_FILES:-"['${DATA_DIR}/gsm8k/train.parquet','${DATA_DIR}/math/train.parquet']"}
VAL_FILES=${VAL_FILES:-"['${DATA_DIR}/gsm8k/test.parquet','${DATA_DIR}/math/math500.parquet']"}
EXPERIMENT_NAME=${EXPERIMENT_NAME:-qwen3_8b_gsm8k_math_grpo}

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
launch vanilla "$@"
