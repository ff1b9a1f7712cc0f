# Qwen3-8B on GSM8K + MATH, one 8-GPU node by default.
# Sourced by the run scripts below, never run: the knobs their runs share (each also settable from the
# environment), then common.sh's shared overrides. A run script sets only its loss knobs and run name.
#   run_qwen3_8b_abc.sh, run_qwen3_8b_grpo.sh, run_qwen3_8b_dualclip.sh

MODEL_PATH=${MODEL_PATH:-Qwen/Qwen3-8B}
N_GPUS=${N_GPUS:-8}
NNODES=${NNODES:-1}
DATA_DIR=${DATA_DIR:-$HOME/data}
# prompts per rollout step, and per optimizer step (4 optimizer steps per rollout)
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-1024}
PPO_MINI_BATCH_SIZE=${PPO_MINI_BATCH_SIZE:-256}
# responses per prompt (the group)
ROLLOUT_N=${ROLLOUT_N:-8}
TRAIN_FILES=${TRAIN_FILES:-"['${DATA_DIR}/gsm8k/train.parquet','${DATA_DIR}/math/train.parquet']"}
VAL_FILES=${VAL_FILES:-"['${DATA_DIR}/gsm8k/test.parquet','${DATA_DIR}/math/math500.parquet']"}

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
