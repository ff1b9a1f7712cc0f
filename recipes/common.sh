# Shared by every recipe (sourced, never run): the overrides all runs have in common, built from knobs.
#
# A run script sets its loss knobs and EXPERIMENT_NAME, then sources its setting's file (qwen3_8b_gsm8k_math.sh,
# paper/qwen3_{1.7b,4b}_base.sh: MODEL_PATH, N_GPUS, NNODES, TRAIN_FILES, VAL_FILES, TRAIN_BATCH_SIZE,
# PPO_MINI_BATCH_SIZE, ROLLOUT_N, ...), which sources this file; the run script then calls
# `launch abc_grpo "$@"` or `launch vanilla "$@"`. Every knob can also be set from the environment;
# knobs a recipe leaves unset take the defaults below. Arguments after the recipe name ("$@") are appended last,
# so any verl override given on the command line wins.

# The ABC-GRPO paper's settings (arXiv 2601.03895 and the authors' TRL configs; see recipes/README.md for the
# mapping), as defaults for the recipes in recipes/paper/. Call before `launch`.
paper_defaults() {
  # lr 1e-6, cosine decay after a linear warm-up over the first 10% of steps (TRL warmup_ratio 0.1)
  : "${LR_SCHEDULER:=cosine}"
  : "${LR_WARMUP_RATIO:=0.1}"
  # HF Trainer's AdamW default (verl's is 0.01)
  : "${WEIGHT_DECAY:=0.0}"
  # TRL's vLLM importance-sampling correction: per-token weight min(pi_old / pi_vllm, 2)
  : "${ROLLOUT_IS:=token}"
  : "${ROLLOUT_IS_THRESHOLD:=2.0}"
  : "${TOTAL_EPOCHS:=5}"
  # the Base models' chat template with its default (what TRL applied): no empty <think> block
  : "${ENABLE_THINKING:=True}"
  # small models: one GPU per vLLM engine
  : "${ROLLOUT_TP:=1}"
}

# Defaults for everything a recipe left unset: verl 0.9's Qwen3-8B GRPO example
# (examples/grpo_trainer/run_qwen3_8b_fsdp.sh) unless noted.
example_defaults() {
  : "${MAX_PROMPT_LENGTH:=1024}"
  : "${MAX_RESPONSE_LENGTH:=2048}"
  : "${PPO_MAX_TOKEN_LEN_PER_GPU:=24576}"
  : "${ROLLOUT_TP:=2}"
  : "${GPU_MEMORY_UTILIZATION:=0.6}"
  : "${LR:=1e-6}"
  : "${LR_SCHEDULER:=constant}"
  : "${LR_WARMUP_RATIO:=0.0}"
  : "${WEIGHT_DECAY:=0.01}"
  # the paper's sampling temperature for training rollouts (also verl's default)
  : "${TEMPERATURE:=1.0}"
  # null: no rollout importance weights (verl's default)
  : "${ROLLOUT_IS:=null}"
  : "${ROLLOUT_IS_THRESHOLD:=2.0}"
  # Qwen3 (hybrid thinking) answers without a <think> trace; with thinking on, most traces would not fit in
  # MAX_RESPONSE_LENGTH and be scored 0 for truncation, not for the math
  : "${ENABLE_THINKING:=False}"
  # true: advantage (R - mean) / std as the authors' code and verl's grpo; false: R - mean as the paper's Eq. 3
  : "${NORM_ADV_BY_STD:=True}"
  # token-mean: verl's default and TRL's "dapo" loss normalisation the authors' runs used
  : "${LOSS_AGG_MODE:=token-mean}"
  # ABC-GRPO's four widths (the paper's 0.2 each): eps1 (A>0, r>1: Q1), eps2 (A>0, r<1: Q2), eps3 (A<=0, r>1: Q4),
  # eps4 (A<=0, r<1: Q3). Defined here only, so that a baseline's reporting band is always its ABC run's band.
  : "${CLIP_POS_HIGH:=0.2}"
  : "${CLIP_POS_LOW:=0.2}"
  : "${CLIP_NEG_HIGH:=0.2}"
  : "${CLIP_NEG_LOW:=0.2}"
  : "${OFFLOAD:=False}"
  : "${TOTAL_EPOCHS:=15}"
  : "${SAVE_FREQ:=20}"
  : "${TEST_FREQ:=5}"
  : "${PROJECT_NAME:=abc_grpo_verl}"
  # "file": verl's JSON-lines metrics log, what `python -m abc_grpo_verl.report OUTPUT_DIR` reads
  : "${LOGGER:=[\"console\",\"wandb\",\"file\"]}"
  # the run's folder: its checkpoints, and under train_logs/ the `file` logger's log of each launch
  : "${OUTPUT_DIR:=${PWD}/checkpoints/${PROJECT_NAME}/${EXPERIMENT_NAME}}"
}

# launch abc_grpo|vanilla [extra overrides...]: compose every override and run the package launcher.
launch() {
  local policy_loss=$1
  shift
  example_defaults
  local loss_overrides
  case "${policy_loss}" in
    abc_grpo)
      loss_overrides=(
        actor_rollout_ref.actor.policy_loss.loss_mode=abc_grpo
        algorithm.adv_estimator=abc_grpo
        actor_rollout_ref.actor.policy_loss.clip_pos_high="${CLIP_POS_HIGH}"
        actor_rollout_ref.actor.policy_loss.clip_pos_low="${CLIP_POS_LOW}"
        actor_rollout_ref.actor.policy_loss.clip_neg_high="${CLIP_NEG_HIGH}"
        actor_rollout_ref.actor.policy_loss.clip_neg_low="${CLIP_NEG_LOW}"
      )
      ;;
    vanilla)
      # the launcher's alias of actor_rollout_ref.actor.policy_loss.loss_mode. abc_grpo_vanilla is verl's vanilla
      # loss unchanged, plus Q1..Q4 metrics against the ABC run's band (the CLIP_POS_*/CLIP_NEG_* knobs, set above)
      loss_overrides=(
        algorithm.policy_loss=abc_grpo_vanilla
        actor_rollout_ref.actor.policy_loss.clip_pos_high="${CLIP_POS_HIGH}"
        actor_rollout_ref.actor.policy_loss.clip_pos_low="${CLIP_POS_LOW}"
        actor_rollout_ref.actor.policy_loss.clip_neg_high="${CLIP_NEG_HIGH}"
        actor_rollout_ref.actor.policy_loss.clip_neg_low="${CLIP_NEG_LOW}"
        algorithm.adv_estimator=grpo
        actor_rollout_ref.actor.clip_ratio_low="${CLIP_RATIO_LOW}"
        actor_rollout_ref.actor.clip_ratio_high="${CLIP_RATIO_HIGH}"
        actor_rollout_ref.actor.clip_ratio_c="${CLIP_RATIO_C}"
      )
      ;;
    *)
      echo "launch: unknown policy loss '${policy_loss}' (valid: abc_grpo, vanilla)" >&2
      return 2
      ;;
  esac

  # verl truncates its log file when it opens it: one folder per launch keeps a resumed run's earlier steps (the
  # report merges them by step). Passed through Ray's runtime env to reach the trainer on any node; verl creates it.
  local file_log_root="${OUTPUT_DIR}/train_logs/$(date +%Y%m%d-%H%M%S)"

  local common_overrides=(
    data.train_files="${TRAIN_FILES}"
    data.val_files="${VAL_FILES}"
    data.train_batch_size="${TRAIN_BATCH_SIZE}"
    data.max_prompt_length="${MAX_PROMPT_LENGTH}"
    data.max_response_length="${MAX_RESPONSE_LENGTH}"
    data.filter_overlong_prompts=True
    data.truncation=error
    +data.apply_chat_template_kwargs.enable_thinking="${ENABLE_THINKING}"
    actor_rollout_ref.model.path="${MODEL_PATH}"
    actor_rollout_ref.model.use_remove_padding=True
    actor_rollout_ref.model.enable_gradient_checkpointing=True
    actor_rollout_ref.actor.optim.lr="${LR}"
    actor_rollout_ref.actor.optim.lr_scheduler_type="${LR_SCHEDULER}"
    actor_rollout_ref.actor.optim.lr_warmup_steps_ratio="${LR_WARMUP_RATIO}"
    actor_rollout_ref.actor.optim.weight_decay="${WEIGHT_DECAY}"
    actor_rollout_ref.actor.ppo_mini_batch_size="${PPO_MINI_BATCH_SIZE}"
    actor_rollout_ref.actor.ppo_epochs=1
    actor_rollout_ref.actor.use_dynamic_bsz=True
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu="${PPO_MAX_TOKEN_LEN_PER_GPU}"
    actor_rollout_ref.actor.loss_agg_mode="${LOSS_AGG_MODE}"
    actor_rollout_ref.actor.use_kl_loss=False
    actor_rollout_ref.actor.entropy_coeff=0
    actor_rollout_ref.actor.fsdp_config.param_offload="${OFFLOAD}"
    actor_rollout_ref.actor.fsdp_config.optimizer_offload="${OFFLOAD}"
    actor_rollout_ref.rollout.name=vllm
    actor_rollout_ref.rollout.tensor_model_parallel_size="${ROLLOUT_TP}"
    actor_rollout_ref.rollout.gpu_memory_utilization="${GPU_MEMORY_UTILIZATION}"
    actor_rollout_ref.rollout.n="${ROLLOUT_N}"
    actor_rollout_ref.rollout.temperature="${TEMPERATURE}"
    actor_rollout_ref.rollout.top_p=1.0
    actor_rollout_ref.rollout.top_k=-1
    actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=True
    actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu="${PPO_MAX_TOKEN_LEN_PER_GPU}"
    algorithm.use_kl_in_reward=False
    algorithm.norm_adv_by_std_in_grpo="${NORM_ADV_BY_STD}"
    algorithm.rollout_correction.rollout_is="${ROLLOUT_IS}"
    algorithm.rollout_correction.rollout_is_threshold="${ROLLOUT_IS_THRESHOLD}"
    reward.custom_reward_function.path=pkg://abc_grpo_verl.reward
    reward.custom_reward_function.name=compute_score
    critic.enable=False
    trainer.critic_warmup=0
    trainer.logger="${LOGGER}"
    trainer.default_local_dir="${OUTPUT_DIR}"
    ++ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_ROOT="${file_log_root}"
    trainer.project_name="${PROJECT_NAME}"
    trainer.experiment_name="${EXPERIMENT_NAME}"
    trainer.n_gpus_per_node="${N_GPUS}"
    trainer.nnodes="${NNODES}"
    trainer.save_freq="${SAVE_FREQ}"
    trainer.test_freq="${TEST_FREQ}"
    trainer.total_epochs="${TOTAL_EPOCHS}"
  )

  # PYTHON if set; else python3 when it finds this package, hydra and verl from outside the checkout (an activated
  # environment: from the repository root any python3 finds the package's source, then lacks hydra); else the
  # project's .venv (`make setup`)
  local python=${PYTHON:-} venv_python probe
  venv_python="$(dirname "${BASH_SOURCE[0]}")/../.venv/bin/python"
  probe='import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, ("abc_grpo_verl", "hydra", "verl"))))'
  if [[ -z "${python}" ]]; then
    if (cd / && python3 -c "${probe}") 2>/dev/null; then
      python=python3
    elif [[ -x "${venv_python}" ]]; then
      python=${venv_python}
    else
      echo "launch: no Python with abc-grpo-verl: run \`make setup\` (the project's .venv), activate an environment" \
        "that has the package, or set PYTHON" >&2
      return 2
    fi
  fi
  "${python}" -m abc_grpo_verl.train "${common_overrides[@]}" "${loss_overrides[@]}" "$@"
}
