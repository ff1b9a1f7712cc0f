#!/usr/bin/env bash
# The ABC-GRPO paper's Qwen3-4B-Base GRPO baseline (arXiv 2601.03895, Table 3): identical to
# run_qwen3_4b_base_abc.sh except for the loss: PPO-clip with eps 0.2 and, as TRL's GRPO loss the
# authors ran, no dual-clip.
#   bash recipes/paper/run_qwen3_4b_base_grpo.sh [verl overrides...]
# Data: examples/data_preprocess/dapo_math.py (train) and math_dataset.py (MATH-500 validation) under $DATA_DIR.
set -xeuo pipefail

MODEL_PATH=${MODEL_PATH:-Qwen/Qwen3-4B-Base}
N_GPUS=${N_GPUS:-8}
NNODES=${NNODES:-1}
DATA_DIR=${DATA_DIR:-$HOME/data}
# prompts per rollout batch (x8 responses), and per optimizer step: 256/64 = 4 optimizer steps per rollout
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-256}
PPO_MINI_BATCH_SIZE=${PPO_MINI_BATCH_SIZE:-64}
ROLLOUT_N=${ROLLOUT_N:-8}
CLIP_RATIO_LOW=${CLIP_RATIO_LOW:-0.2}
CLIP_RATIO_HIGH=${CLIP_RATIO_HIGH:-0.2}
# above any ratio verl computes (it clamps log-ratios to +-20, e^20 < 5e8): dual-clip off
CLIP_RATIO_C=${CLIP_RATIO_C:-1e9}
# the authors' max_prompt_length / max_completion_length for this model
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-1024}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-3072}
PPO_MAX_TOKEN_LEN_PER_GPU=${PPO_MAX_TOKEN_LEN_PER_GPU:-16384}
# one epoch of DAPO-Math-17k "all" (17,398 prompts // 256); the authors saved every epoch
SAVE_FREQ=${SAVE_FREQ:-67}
TEST_FREQ=${TEST_FREQ:-67}
TRAIN_FILES=${TRAIN_FILES:-"['${DATA_DIR}/dapo_math/train.parquet']"}
VAL_FILES=${VAL_FILES:-"['${DATA_DIR}/math/math500.parquet']"}
EXPERIMENT_NAME=${EXPERIMENT_NAME:-qwen3_4b_base_dapo_math_grpo}

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
paper_defaults
launch vanilla "$@"
