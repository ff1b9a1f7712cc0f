# The paper's Qwen3-1.7B-Base setting on DAPO-Math-17k.
# Sourced by the run scripts below, never run: the knobs their runs share (each also settable from the
# environment), then common.sh's shared overrides. A run script sets only its loss knobs and run name.
#   run_qwen3_1.7b_base_abc.sh, run_qwen3_1.7b_base_grpo.sh

MODEL_PATH=${MODEL_PATH:-Qwen/Qwen3-1.7B-Base}
N_GPUS=${N_GPUS:-8}
NNODES=${NNODES:-1}
DATA_DIR=${DATA_DIR:-$HOME/data}
# prompts per rollout batch (x8 responses), and per optimizer step: 512/128 = 4 optimizer steps per rollout
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-512}
PPO_MINI_BATCH_SIZE=${PPO_MINI_BATCH_SIZE:-128}
ROLLOUT_N=${ROLLOUT_N:-8}
# the authors' max_prompt_length / max_completion_length for this model
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-2048}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-4096}
PPO_MAX_TOKEN_LEN_PER_GPU=${PPO_MAX_TOKEN_LEN_PER_GPU:-18432}
# one epoch of DAPO-Math-17k "all" (17,398 prompts // 512); the authors saved every epoch
SAVE_FREQ=${SAVE_FREQ:-33}
TEST_FREQ=${TEST_FREQ:-33}
TRAIN_FILES=${TRAIN_FILES:-"['${DATA_DIR}/dapo_math/train.parquet']"}
VAL_FILES=${VAL_FILES:-"['${DATA_DIR}/math/math500.parquet']"}

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
paper_defaults
