#!/usr/bin/env bash
# The ABC-GRPO paper's Qwen3-4B-Base ABC-GRPO run (arXiv 2601.03895, Table 3): DAPO-Math-17k, group size 8,
# the four widths at 0.2, lr 1e-6 cosine with 10% warm-up, 4 optimizer steps per rollout batch, no KL.
# Its matched baseline is run_qwen3_4b_base_grpo.sh. Settings and their sources: recipes/README.md.
#   bash recipes/paper/run_qwen3_4b_base_abc.sh [verl overrides...]
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
# the four widths: eps1 (A>0, r>1: Q1), eps2 (A>0, r<1: Q2), eps3 (A<=0, r>1: Q4), eps4 (A<=0, r<1: Q3)
CLIP_POS_HIGH=${CLIP_POS_HIGH:-0.2}
CLIP_POS_LOW=${CLIP_POS_LOW:-0.2}
CLIP_NEG_HIGH=${CLIP_NEG_HIGH:-0.2}
CLIP_NEG_LOW=${CLIP_NEG_LOW:-0.2}
# the authors' max_prompt_length / max_completion_length for this model
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-1024}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-3072}
PPO_MAX_TOKEN_LEN_PER_GPU=${PPO_MAX_TOKEN_LEN_PER_GPU:-16384}
# one epoch of DAPO-Math-17k "all" (17,398 prompts // 256); the authors saved every epoch
SAVE_FREQ=${SAVE_FREQ:-67}
TEST_FREQ=${TEST_FREQ:-67}
TRAIN_FILES=${TRAIN_FILES:-"['${DATA_DIR}/dapo_math/train.parquet']"}
VAL_FILES=${VAL_FILES:-"['${DATA_DIR}/math/math500.parquet']"}
EXPERIMENT_NAME=${EXPERIMENT_NAME:-qwen3_4b_base_dapo_math_abc}

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
paper_defaults
launch abc_grpo "$@"
