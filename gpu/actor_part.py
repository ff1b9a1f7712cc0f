# Copyright 2026 Individual Contributor: abc-grpo-verl contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Actor update through verl's real engine: abc_grpo vs vanilla, same weights, same batch.

The engine path is the one verl's V1 trainer takes for the actor, in one process instead of a Ray actor:
`ActorRolloutRefWorker(role="actor").init_model()` builds `TrainingWorker` + the FSDP2 engine from the packaged
`abc_grpo_trainer` config (hydra-composed as the launcher does), `RayPPOTrainer._compute_old_log_prob` and
`_update_actor` (verl's own methods, run on a view holding the config and the worker) prepare the batch and run
`train_mini_batch`: dynamic batch sizing, bf16 mixed precision, gradient checkpointing, gradient clipping, AdamW,
with verl's `ppo_loss` calling the registered loss. Advantages come from verl's `compute_advantage` with the
plugin's `abc_grpo` estimator. One worker per loss, both loaded from the same random Qwen3, so their first updates
start from identical weights on an identical batch; updates alternate between them (ABBA order) so drift in the
machine's speed hits both alike.

The old log-probs are the engine's own recomputation plus Gaussian noise (`old_log_prob_noise`): recomputed
log-probs equal the current ones, so the first mini-batch would see ratio 1 everywhere and no band would ever be
left. The noise stands in for what moves the ratio in a real run (rollout-engine vs trainer numerics, earlier
mini-batches) so that the four quadrants are populated. The report states it.

If the engine cannot be brought up (import, construction or first update fails), the fallback runs the same
comparison with torch's FSDP2 `fully_shard` on one rank, a Hugging Face Qwen3 and verl's `ppo_loss`, and the report
says which path ran and why.
"""

import math
import os
import socket
import statistics
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from random_model import write_random_qwen3

MODES = ("abc_grpo", "vanilla")
# The metrics compared side by side (verl's names after _update_actor's "actor/" prefix).
KEY_METRICS = ("actor/pg_loss", "actor/grad_norm", "actor/pg_clipfrac", "actor/pg_clipfrac_lower", "actor/ppo_kl",
               *(f"actor/abc_clipfrac_q{q}" for q in range(1, 5)), "perf/mfu/actor")


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _single_rank_env() -> None:
    """What torchrun or verl's Ray worker group sets for rank 0 of a world of 1."""
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1"}.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", _free_port())


def make_batch(s, pad_id: int):
    """A rollout batch as verl's trainer holds it after generation and reward: left-padded prompts, right-padded
    responses of ragged lengths, `n` responses per prompt sharing a uid, a 0/1 outcome reward on the last token."""
    from verl import DataProto
    from verl.utils.model import compute_position_id_with_mask

    gen = torch.Generator().manual_seed(0)
    bs, P, R = s["prompts"] * s["n"], s["prompt_len"], s["response_len"]
    prompt_lens = torch.randint(P // 4, P + 1, (s["prompts"],), generator=gen).repeat_interleave(s["n"])
    response_lens = torch.randint(R // 4, R + 1, (bs,), generator=gen)
    prompt_mask = (torch.arange(P)[None] >= (P - prompt_lens)[:, None]).long()
    response_mask = (torch.arange(R)[None] < response_lens[:, None]).long()
    prompts = torch.where(prompt_mask.bool(), torch.randint(0, pad_id, (bs, P), generator=gen), pad_id)
    responses = torch.where(response_mask.bool(), torch.randint(0, pad_id, (bs, R), generator=gen), pad_id)
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
    rewards = torch.zeros(bs, R)
    rewards[torch.arange(bs), response_lens - 1] = torch.randint(0, 2, (bs,), generator=gen).float()
    return DataProto.from_single_dict(
        {"prompts": prompts, "responses": responses, "input_ids": torch.cat([prompts, responses], dim=1),
         "attention_mask": attention_mask, "position_ids": compute_position_id_with_mask(attention_mask),
         "response_mask": response_mask, "token_level_rewards": rewards,
         "uid": np.repeat(np.arange(s["prompts"]), s["n"]).astype(object)},
        meta_info={"temperature": 1.0, "global_token_num": attention_mask.sum(-1).tolist()},
    ), gen


def trainer_config(s, model_dir, loss_mode, device):
    """The packaged abc_grpo_trainer config, composed as `python -m abc_grpo_verl.train` (a hydra app) composes it."""
    from hydra import compose, initialize_config_module

    from abc_grpo_verl.train import CONFIG_NAME, CONFIG_PATH

    prefix = "actor_rollout_ref"
    overrides = [
        f"{prefix}.model.path={model_dir}",
        # the machine has no flash-attn: padded batches through PyTorch's SDPA instead of verl's varlen packing
        f"{prefix}.model.use_remove_padding=False",
        f"+{prefix}.model.override_config.attn_implementation=sdpa",
        f"{prefix}.actor.strategy=fsdp2",
        f"{prefix}.actor.policy_loss.loss_mode={loss_mode}",
        f"{prefix}.rollout.n={s['n']}",
        f"{prefix}.actor.ppo_mini_batch_size={s['mini_batch_prompts']}",
        f"{prefix}.actor.use_dynamic_bsz=True",
        f"{prefix}.actor.ppo_max_token_len_per_gpu={s['max_token_len']}",
        f"{prefix}.rollout.log_prob_use_dynamic_bsz=True",
        f"{prefix}.rollout.log_prob_max_token_len_per_gpu={s['max_token_len']}",
        f"{prefix}.actor.optim.lr={s['lr']}",
    ]
    if device == "cpu":  # verl's default compiles its log-prob helper: on 2 CPU cores that is most of the toy run
        overrides.append(f"{prefix}.actor.fsdp_config.use_torch_compile=False")
    with initialize_config_module(CONFIG_PATH.removeprefix("pkg://"), version_base=None):
        return compose(CONFIG_NAME, overrides=overrides), overrides


def _trainer_view(config, worker):
    """What RayPPOTrainer._compute_old_log_prob and _update_actor read from `self`: the config and the actor worker
    group, here the worker itself (its methods run directly, as Ray would run them inside the actor)."""
    return SimpleNamespace(config=config, distillation_config=None, actor_rollout_wg=worker)


class _Meter:
    """Wall time and peak device memory of one call (peak above what was allocated before it; CUDA only)."""

    def __init__(self, device):
        self.cuda = device == "cuda"

    def __call__(self, fn, *args):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        start = time.perf_counter()
        out = fn(*args)
        if self.cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        peak = (torch.cuda.max_memory_allocated() - before) / 2**30 if self.cuda else None
        return out, elapsed, peak


def _mean_metrics(metrics: dict) -> dict:
    """verl's reduce_metrics: the mean over mini-batches of each metric."""
    from verl.utils.metric import reduce_metrics

    return {key: float(value) for key, value in reduce_metrics(metrics).items()}


def _alternate_updates(s, device, update, result):
    """`repeats` rounds of one update per loss, in ABBA order so that drift in the machine's speed hits both alike;
    update(mode) returns that update's metrics."""
    result.data["stage"] = "updates"
    meter = _Meter(device)
    timings, peaks, first_metrics = {m: [] for m in MODES}, {m: [] for m in MODES}, {}
    for repeat in range(s["repeats"]):
        for mode in MODES if repeat % 2 == 0 else MODES[::-1]:
            metrics, seconds, peak = meter(update, mode)
            timings[mode].append(seconds)
            peaks[mode].append(peak)
            first_metrics.setdefault(mode, metrics)
        result.data["updates_done"] = repeat + 1
        _compare(result, timings, peaks, first_metrics)  # after every round: a part stopped at its budget keeps it
        result.save()


def _compare(result, timings, peaks, first_metrics):
    data = result.data
    # each worker's first update also builds its AdamW state and compiles what verl compiles: not a step's cost
    medians = {mode: statistics.median(timings[mode][1:] or timings[mode]) for mode in MODES}
    data["step_s"] = {mode: timings[mode] for mode in MODES}
    data["median_step_s"] = medians
    data["step_time_ratio"] = medians["abc_grpo"] / medians["vanilla"]
    if all(peak is not None for mode in MODES for peak in peaks[mode]):  # measured on CUDA only
        data["peak_gib"] = {mode: max(peaks[mode][1:] or peaks[mode]) for mode in MODES}
        data["peak_memory_ratio"] = data["peak_gib"]["abc_grpo"] / data["peak_gib"]["vanilla"]
    data["metrics"] = {mode: {k: first_metrics[mode][k] for k in KEY_METRICS if k in first_metrics[mode]}
                       for mode in MODES}
    data["all_metrics"] = first_metrics
    nonfinite = [f"{mode}: {key}" for mode in MODES for key in ("actor/pg_loss", "actor/grad_norm")
                 if not math.isfinite(first_metrics[mode].get(key, float("nan")))]
    data["finite"] = not nonfinite
    if nonfinite:  # a finding, not a failure to bring the engine up: reported, never a reason for the fallback
        result.fail(f"non-finite or missing loss / grad norm in the first update: {', '.join(nonfinite)}")


def run_engine(s, device, model_dir, result):
    """verl's V1 actor path: ActorRolloutRefWorker + FSDP2 engine, RayPPOTrainer's old-log-prob and update steps."""
    import abc_grpo_verl.algos  # noqa: F401  (the plugin's registration, also where entry points are disabled)

    if device == "cpu":
        # the CPU platform of the end-to-end run's glue (e2e/cpu_glue), from its source folder: it registers itself
        # through verl's PlatformRegistry when VERL_PLATFORM=cpu; VERL_ENGINE_DEVICE picks the FSDP engine's class
        os.environ.update(VERL_PLATFORM="cpu", VERL_ENGINE_DEVICE="cuda")
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e" / "cpu_glue"))
        import abc_grpo_e2e_cpu.verl_cpu  # noqa: F401
        # verl would create a cpu:gloo + nccl process group; this torch has no NCCL to offer on a CPU-only machine
        torch.distributed.init_process_group(backend="gloo")
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_advantage
    from verl.workers.engine_workers import ActorRolloutRefWorker

    result.data["stage"] = "building workers"
    workers, configs = {}, {}
    for mode in MODES:
        configs[mode], overrides = trainer_config(s, model_dir, mode, device)
        result.data.setdefault("overrides", overrides)  # abc_grpo's; vanilla's differ in loss_mode only
        start = time.perf_counter()
        workers[mode] = ActorRolloutRefWorker(config=configs[mode].actor_rollout_ref, role="actor")
        workers[mode].init_model()
        result.data.setdefault("init_s", {})[mode] = time.perf_counter() - start
        result.save()

    result.data["stage"] = "old log-probs and advantages"
    batch, gen = make_batch(s, pad_id=s["pad_id"])
    meter = _Meter(device)
    (old, _mfu), result.data["old_log_prob_s"], _ = meter(
        RayPPOTrainer._compute_old_log_prob, _trainer_view(configs["vanilla"], workers["vanilla"]), batch)
    batch = batch.union(old)
    noise = torch.randn(batch.batch["old_log_probs"].shape, generator=gen) * s["old_log_prob_noise"]
    batch.batch["old_log_probs"] = batch.batch["old_log_probs"] + noise
    batch = compute_advantage(batch, adv_estimator=configs["abc_grpo"].algorithm.adv_estimator,
                              norm_adv_by_std_in_grpo=configs["abc_grpo"].algorithm.norm_adv_by_std_in_grpo,
                              config=configs["abc_grpo"].algorithm)
    result.data["tokens_per_update"] = int(batch.batch["attention_mask"].sum())
    result.save()

    def update(mode):
        # _update_actor mutates the batch's meta_info only; the tensors every update reads stay the same
        output = RayPPOTrainer._update_actor(_trainer_view(configs[mode], workers[mode]), batch)
        return _mean_metrics(output.meta_info["metrics"])

    _alternate_updates(s, device, update, result)


def run_fallback(s, device, model_dir, result):
    """torch FSDP2 `fully_shard` on one rank + Hugging Face Qwen3 + verl's `ppo_loss`, one micro-batch per
    mini-batch, the same batch (old log-probs recomputed by the model, plus the same noise) and comparisons."""
    from tensordict import TensorDict
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from transformers import AutoModelForCausalLM
    from verl.trainer.config import AlgoConfig
    from verl.trainer.ppo.ray_trainer import compute_advantage
    from verl.utils import tensordict_utils as tu
    from verl.workers.config import ActorConfig
    from verl.workers.utils.losses import ppo_loss
    from verl.workers.utils.padding import no_padding_2_padding

    import abc_grpo_verl.algos  # noqa: F401
    from abc_grpo_verl.config import ABCPolicyLossConfig

    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    mesh = init_device_mesh(device, (1,))
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)

    def build():
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                     attn_implementation="sdpa").to(device)
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        for layer in model.model.layers:
            fully_shard(layer, mesh=mesh, mp_policy=policy)
        fully_shard(model, mesh=mesh, mp_policy=policy)
        return model, torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=0.01)

    def next_token_log_probs(model, rows):
        """Per valid token, log p(next token): the no-padding layout verl's engine hands to ppo_loss."""
        ids, mask = batch.batch["input_ids"][rows].to(device), batch.batch["attention_mask"][rows].to(device)
        logits = model(input_ids=ids, attention_mask=mask,
                       position_ids=batch.batch["position_ids"][rows].to(device)).logits
        log_probs = torch.log_softmax(logits.float(), dim=-1)[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1)
        return torch.nn.functional.pad(log_probs, (0, 1))[mask.bool()]

    result.data["stage"] = "building models"
    models = {mode: build() for mode in MODES}
    batch, gen = make_batch(s, pad_id=s["pad_id"])
    per_mini = s["mini_batch_prompts"] * s["n"]
    with torch.no_grad():  # a mini-batch at a time, as the engine's micro-batches keep the logits' memory bounded
        flat = torch.cat([next_token_log_probs(models["vanilla"][0], slice(start, start + per_mini))
                          for start in range(0, len(batch), per_mini)])
    data = TensorDict({k: batch.batch[k] for k in ("prompts", "responses", "attention_mask")},
                      batch_size=[len(batch)])
    batch.batch["old_log_probs"] = no_padding_2_padding(flat.cpu(), data).float()
    noise = torch.randn(batch.batch["old_log_probs"].shape, generator=gen) * s["old_log_prob_noise"]
    batch.batch["old_log_probs"] = batch.batch["old_log_probs"] + noise
    batch = compute_advantage(batch, adv_estimator="abc_grpo", config=AlgoConfig(adv_estimator="abc_grpo"))
    result.data["tokens_per_update"] = int(batch.batch["attention_mask"].sum())

    def update(mode):
        model, optimizer = models[mode]
        metrics = {}
        for start in range(0, len(batch), per_mini):
            rows = slice(start, start + per_mini)
            mini = TensorDict({k: batch.batch[k][rows].to(device) for k in
                               ("prompts", "responses", "attention_mask", "response_mask", "old_log_probs",
                                "advantages")}, batch_size=[per_mini])
            tu.assign_non_tensor(mini, dp_size=1, batch_num_tokens=int(mini["response_mask"].sum()),
                                 global_batch_size=per_mini)
            config = ActorConfig(strategy="fsdp2", rollout_n=s["n"], ppo_micro_batch_size_per_gpu=per_mini,
                                 policy_loss=ABCPolicyLossConfig(loss_mode=mode))
            loss, step_metrics = ppo_loss(config, {"log_probs": next_token_log_probs(model, rows)}, mini)
            optimizer.zero_grad()
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            for key, metric in step_metrics.items():
                metrics.setdefault(f"actor/{key.removeprefix('actor/')}", []).append(float(metric.aggregate()))
            metrics.setdefault("actor/grad_norm", []).append(float(grad_norm.full_tensor()
                                                                    if hasattr(grad_norm, "full_tensor")
                                                                    else grad_norm))
        return {key: statistics.mean(values) for key, values in metrics.items()}

    _alternate_updates(s, device, update, result)


def run(settings, result):
    device = settings["device"]
    s = dict(settings["actor"])
    if s["path"] not in ("engine", "fallback"):
        raise ValueError(f"actor.path={s['path']!r} is invalid: 'engine' (verl's engine, fallback if it fails) or "
                         "'fallback' (only the FSDP2 + ppo_loss path)")
    if device == "cuda" and not torch.cuda.is_available():
        return result.skip("--device cuda, but torch.cuda.is_available() is False")
    _single_rank_env()
    model_dir = os.path.join(settings["work_dir"], "actor-model")
    start = time.perf_counter()
    result.data["parameters"] = write_random_qwen3(
        model_dir, hidden=s["hidden"], intermediate=s["intermediate"], layers=s["layers"], heads=s["heads"],
        kv_heads=s["kv_heads"], head_dim=s["head_dim"], vocab=s["vocab"],
        max_positions=s["prompt_len"] + s["response_len"], device=device)
    result.data["model_write_s"] = time.perf_counter() - start
    s["pad_id"] = 256  # the byte-level tokenizer's <|endoftext|>; random token ids are drawn below it
    result.data["old_log_prob_noise"] = s["old_log_prob_noise"]
    if s["path"] == "engine":
        try:
            result.data["path"] = "engine"
            return run_engine(s, device, model_dir, result)
        except Exception as error:  # any failure of the engine path: record it, then try the fallback
            result.data["engine_error"] = f"{type(error).__name__}: {error}"
            result.data["engine_traceback"] = traceback.format_exc()[-4000:]
            result.data["engine_stopped_at"] = result.data.get("stage")
            print(result.data["engine_traceback"], flush=True)
            for stale in ("updates_done", "step_s", "median_step_s", "step_time_ratio", "peak_gib",
                          "peak_memory_ratio", "metrics", "all_metrics", "finite"):  # what _compare wrote
                result.data.pop(stale, None)
            result.status, result.reason = "running", None
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    result.data["path"] = "fallback"
    run_fallback(s, device, model_dir, result)
