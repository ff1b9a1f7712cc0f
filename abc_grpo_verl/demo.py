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
"""The embedded default: ABC-GRPO vs GRPO vs dual-clip on a tiny Qwen3, on CPU, in a few minutes.

    python -m abc_grpo_verl.demo            # default run, writes runs/demo/
    python -m abc_grpo_verl.demo --quick    # smoke run (< 60 s), what tests/test_demo.py runs

The task is two-digit addition ("37+45=" -> "82<eos>"), graded by exact integer match. Per seed:
  1. a random tiny Qwen3ForCausalLM (built from a config, no download) is warm-started by a short supervised
     phase, so that sampled answers are sometimes right and sometimes wrong (GRPO learns nothing otherwise);
  2. each method starts from a copy of those weights and runs the same RL loop on the same prompts: sample
     `n` answers per prompt at temperature 1, grade them, advantages from verl's registered `abc_grpo`
     estimator, then several mini-batch optimizer steps on verl's own `ppo_loss` (the function verl's actor
     worker calls), so the ratio leaves 1 and the clip bands matter;
  3. after every optimizer step, the ratio of every token of the rollout batch is measured again, to see how long
     tokens stay outside the clip band and whether their own update brings them back (the `band_*` metrics);
  4. metrics.jsonl, summary.md and dynamics.png go to --output-dir; dynamics.png is drawn by the training-dynamics
     report (abc_grpo_verl/report.py), which also reads metrics.jsonl: `python -m abc_grpo_verl.report runs/demo`.

The three methods differ only in the actor config handed to `ppo_loss` (see METHODS).
"""

import argparse
import importlib.util
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tensordict import TensorDict
from tqdm import tqdm
from transformers import Qwen3Config, Qwen3ForCausalLM
from verl.trainer.config import AlgoConfig
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from verl.utils import tensordict_utils as tu
from verl.workers.config import ActorConfig
from verl.workers.utils.losses import ppo_loss

import abc_grpo_verl.algos  # noqa: F401  (registers the abc_grpo loss and estimator, even without `import verl`)
from abc_grpo_verl.config import ABCPolicyLossConfig
from abc_grpo_verl.problems import output_dir_problem
from abc_grpo_verl.report import plot_dynamics
from abc_grpo_verl.report_readers import demo_runs

# ----------------------------------------------------------------------------------------------------------------
# Settings. Every default is what `python -m abc_grpo_verl.demo` runs.


@dataclass(frozen=True)
class DemoConfig:
    steps: int = 60  # rollout steps per method
    hidden: int = 64
    layers: int = 2
    prompts_per_step: int = 16
    rollout_n: int = 8  # group size: answers sampled per prompt
    mini_batches: int = 4  # optimizer steps per pass over a rollout batch (the paper's 4)
    ppo_epochs: int = 1  # passes over each rollout batch: each sample used once, as in the paper
    lr: float = 2e-4
    lr_warmup_steps: int = 10  # rollout steps of linear learning-rate warm-up
    warm_target: float = 0.5  # sampled accuracy at which the supervised warm start stops
    warm_max_steps: int = 3000
    warm_check_every: int = 25
    warm_batch: int = 64
    warm_lr: float = 3e-3
    num_heldout: int = 64
    eval_samples: int = 8  # k of the held-out pass@k
    eval_every: int = 5  # held-out evaluation is the costliest part of a step, so not every step


DEFAULT_SEEDS = (0, 1, 2)
# --quick: a smoke run for the test suite (< 60 s): one seed, a few steps, an earlier stop of the warm start.
QUICK = dict(steps=8, lr_warmup_steps=2, warm_target=0.3, eval_every=4)
QUICK_SEEDS = (0,)


def rng_seed(seed: int, stream: int, step: int) -> int:
    """Seed for one random stream at one step. Each method gets the same prompts and sampling noise at a step."""
    return seed * 1_000_000 + stream * 10_000 + step


# ----------------------------------------------------------------------------------------------------------------
# The task: "ab+cd=" -> the sum, one character per token.

VOCAB = list("0123456789+=") + ["<eos>", "<pad>"]
TOKEN_ID = {token: i for i, token in enumerate(VOCAB)}
EOS, PAD = TOKEN_ID["<eos>"], TOKEN_ID["<pad>"]
PROMPT_LEN = 6  # both operands have two digits, so every prompt is exactly "ab+cd=": no prompt padding
RESPONSE_LEN = 4  # the longest answer (99+99=198) plus <eos>; a response without <eos> is truncated, reward 0


def encode(text: str) -> list[int]:
    return [TOKEN_ID[ch] for ch in text]


def make_problems(seed: int, num_heldout: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All 8100 (a, b) pairs with two-digit operands, split into train and held-out by a seeded permutation."""
    pairs = torch.tensor([(a, b) for a in range(10, 100) for b in range(10, 100)])
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))
    return pairs[order[num_heldout:]], pairs[order[:num_heldout]]


def prompt_ids(pairs: torch.Tensor) -> torch.Tensor:
    return torch.tensor([encode(f"{a}+{b}=") for a, b in pairs.tolist()])


def answer_ids(pairs: torch.Tensor) -> torch.Tensor:
    """The supervised target: the sum's digits, <eos>, then <pad> up to RESPONSE_LEN."""
    rows = [encode(str(a + b)) + [EOS] for a, b in pairs.tolist()]
    return torch.tensor([row + [PAD] * (RESPONSE_LEN - len(row)) for row in rows])


def grade(responses: torch.Tensor, response_mask: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """1.0 where the response is digits then <eos> and the digits parse to exactly a + b, else 0.0.

    Answers are bare integers, so an exact integer comparison is the whole verifier: math-verify would give the
    same grades, slower, and its signal-based timeout only works in a main thread.
    """
    rewards = []
    for tokens, length, (a, b) in zip(responses.tolist(), response_mask.sum(-1).tolist(), pairs.tolist(), strict=True):
        tokens = tokens[:length]
        digits = tokens[:-1]
        ok = tokens[-1] == EOS and 0 < len(digits) and all(t < 10 for t in digits)
        rewards.append(float(ok and int("".join(VOCAB[t] for t in digits)) == a + b))
    return torch.tensor(rewards)


# ----------------------------------------------------------------------------------------------------------------
# The policy: a tiny Qwen3 from a config, random init.


def build_policy(hidden: int, layers: int, seed: int, device: str) -> Qwen3ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(VOCAB),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        max_position_embeddings=PROMPT_LEN + RESPONSE_LEN,
        eos_token_id=EOS,
        pad_token_id=PAD,
        bos_token_id=None,
    )
    return Qwen3ForCausalLM(config).to(device)


def forward_response(model, prompts: torch.Tensor, responses: torch.Tensor, response_mask: torch.Tensor):
    """One forward pass over prompt + response, returning what verl's engine and this demo need.

    Returns:
        flat_log_probs: shape (total_nnz,), the layout of verl's no-padding engine, which `ppo_loss` unpads:
            for every valid token of every sequence, back to back, log p(next token | tokens so far).
        response_log_probs: shape (bs, RESPONSE_LEN), log p of each response token (padded positions hold junk).
        entropy: shape (bs, RESPONSE_LEN), the full-vocabulary entropy (nats) at each response position.
    """
    ids = torch.cat([prompts, responses], dim=1)
    # Responses are right-padded after <eos> and the model is causal, so padding never affects a valid position.
    log_probs = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)
    next_log_probs = log_probs[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1)
    next_log_probs = F.pad(next_log_probs, (0, 1))  # the last position predicts nothing; verl never reads it
    valid = torch.cat([torch.ones_like(prompts, dtype=torch.bool), response_mask.bool()], dim=1)
    response_positions = slice(PROMPT_LEN - 1, PROMPT_LEN - 1 + RESPONSE_LEN)
    response_dist = log_probs[:, response_positions]
    entropy = -(response_dist.exp() * response_dist).sum(-1)
    return next_log_probs[valid], next_log_probs[:, response_positions], entropy


@torch.no_grad()
def sample(model, prompts: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one response per prompt row at temperature 1.0 (the policy the loss's ratio is taken against).

    Returns responses (bs, RESPONSE_LEN), <pad> after <eos>, and the response mask (tokens up to and including
    the first <eos>).
    """
    sequences = prompts
    done = torch.zeros(len(prompts), dtype=torch.bool, device=prompts.device)
    for _ in range(RESPONSE_LEN):
        # No KV cache: sequences are at most 10 tokens, a full forward is cheaper than the bookkeeping.
        logits = model(input_ids=sequences).logits[:, -1].float()
        token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)
        token = torch.where(done, PAD, token)
        done = done | (token == EOS)
        sequences = torch.cat([sequences, token[:, None]], dim=1)
    responses = sequences[:, PROMPT_LEN:]
    # A position is valid if no <eos> came strictly before it.
    eos_before = torch.cumsum((responses == EOS).long(), dim=1) - (responses == EOS).long()
    return responses, (eos_before == 0).long()


@torch.no_grad()
def evaluate(model, pairs: torch.Tensor, k: int, generator: torch.Generator) -> dict[str, float]:
    """pass@1 and pass@k on held-out problems from k samples each (pass@k = share with at least one right)."""
    device = next(model.parameters()).device
    prompts = prompt_ids(pairs).to(device).repeat_interleave(k, dim=0)
    responses, response_mask = sample(model, prompts, generator)
    correct = grade(responses.cpu(), response_mask.cpu(), pairs.repeat_interleave(k, dim=0)).view(-1, k)
    return {"pass@1": correct.mean().item(), f"pass@{k}": correct.amax(dim=1).mean().item()}


# ----------------------------------------------------------------------------------------------------------------
# Warm start: supervised learning on the answers, shared by every method of a seed.


def warm_start(model, train_pairs: torch.Tensor, cfg: DemoConfig, seed: int, device: str) -> tuple[dict, int]:
    """Supervised cross-entropy on (prompt, answer) until sampled accuracy reaches `cfg.warm_target`.

    Accuracy on this task jumps from ~5% to ~80% within a few hundred steps, at a step that moves with the seed
    and the model size, so a fixed step count would hand RL a policy that is either always wrong or always
    right (zero advantage either way). Stopping on a target keeps the starting reward in the useful middle.
    Returns a copy of the weights every method starts from, and the number of steps taken.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.warm_lr)
    generator = torch.Generator().manual_seed(rng_seed(seed, stream=0, step=0))
    check_gen = torch.Generator(device).manual_seed(rng_seed(seed, stream=0, step=1))
    # disable=None: no bar when the output is not a terminal (a log file would get one line per refresh)
    progress = tqdm(range(1, cfg.warm_max_steps + 1), desc=f"warm-start seed {seed}", leave=False, disable=None)
    for step in progress:
        batch = train_pairs[torch.randint(len(train_pairs), (cfg.warm_batch,), generator=generator)]
        ids = torch.cat([prompt_ids(batch), answer_ids(batch)], dim=1).to(device)
        logits = model(input_ids=ids).logits[:, PROMPT_LEN - 1 : -1]
        loss = F.cross_entropy(logits.reshape(-1, len(VOCAB)), ids[:, PROMPT_LEN:].reshape(-1), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % cfg.warm_check_every == 0:
            # Checked on training prompts (the held-out set stays unseen), sampled at T=1 like the rollouts.
            accuracy = evaluate(model, batch, 1, check_gen)["pass@1"]
            progress.set_postfix(accuracy=f"{accuracy:.2f}")
            if accuracy >= cfg.warm_target:
                break
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}, step


# ----------------------------------------------------------------------------------------------------------------
# The three methods: one loss call, three actor configs.

CLIP_EPS = 0.2  # the paper's eps1 = eps2 = eps3 = eps4, and verl's default clip_ratio_low/high


@dataclass(frozen=True)
class Method:
    name: str  # the key in metrics.jsonl
    title: str
    loss_mode: str  # the verl registry name that ppo_loss dispatches to
    clip_ratio_c: float  # verl's dual-clip constant; only the vanilla loss reads it

    @property
    def label(self) -> str:
        if self.loss_mode == "abc_grpo":
            return f"{self.title} (abc_grpo, eps1..eps4 = {CLIP_EPS})"
        return f"{self.title} (vanilla, eps {CLIP_EPS}, clip_ratio_c {self.clip_ratio_c})"


METHODS = (
    Method("abc_grpo", "ABC-GRPO", loss_mode="abc_grpo", clip_ratio_c=3.0),
    # verl's default GRPO loss: Q2 open, Q4 bounded only above r = clip_ratio_c = 3
    Method("grpo", "GRPO", loss_mode="vanilla", clip_ratio_c=3.0),
    # Q4 bounded at 1 + eps like ABC-GRPO, Q2 still open: separates ABC's two changes
    Method("dual_clip", "dual-clip", loss_mode="vanilla", clip_ratio_c=1.2),
)
METHOD_BY_NAME = {method.name: method for method in METHODS}


def actor_config(method: Method, rollout_n: int) -> ActorConfig:
    """A fresh verl ActorConfig: ppo_loss writes the batch normalisers into it, so it is never shared."""
    widths = {}
    if method.loss_mode == "abc_grpo":
        # Spelled out although they default to clip_ratio_low/high, so the run states its four bounds.
        widths = dict(clip_pos_high=CLIP_EPS, clip_pos_low=CLIP_EPS, clip_neg_high=CLIP_EPS, clip_neg_low=CLIP_EPS)
    return ActorConfig(
        strategy="fsdp",
        rollout_n=rollout_n,
        ppo_micro_batch_size_per_gpu=1,
        loss_agg_mode="token-mean",
        clip_ratio_low=CLIP_EPS,
        clip_ratio_high=CLIP_EPS,
        clip_ratio_c=method.clip_ratio_c,
        policy_loss=ABCPolicyLossConfig(loss_mode=method.loss_mode, **widths),
    )


def quadrant_of(log_probs, old_log_probs, advantages, response_mask) -> torch.Tensor:
    """Per response token: its quadrant 1..4 if its ratio left [1 - eps, 1 + eps], else 0 (also for padding, A = 0).

    Q1: A>0, r>1+eps   Q2: A>0, r<1-eps   Q3: A<0, r<1-eps   Q4: A<0, r>1+eps. These are the tokens ABC-GRPO
    clips (there their shares equal its own `actor/abc_clipfrac_q*` metrics). The vanilla loss clips Q1 and Q3 too,
    but keeps the gradient in Q2, and in Q4 up to r = clip_ratio_c.
    """
    ratio = torch.exp(log_probs - old_log_probs)
    valid = response_mask.bool()
    above, below = ratio > 1 + CLIP_EPS, ratio < 1 - CLIP_EPS
    positive, negative = valid & (advantages > 0), valid & (advantages < 0)
    quadrant = torch.zeros_like(ratio, dtype=torch.long)
    for q, in_quadrant in enumerate((positive & above, positive & below, negative & below, negative & above), 1):
        quadrant[in_quadrant] = q
    return quadrant


def quadrant_counts(quadrant: torch.Tensor) -> torch.Tensor:
    """Tokens per quadrant Q1..Q4 of a `quadrant_of` result (or of any selection of it)."""
    return torch.bincount(quadrant.flatten(), minlength=5)[1:]


# ----------------------------------------------------------------------------------------------------------------
# The RL loop of one method.


def rollout(model, pairs: torch.Tensor, cfg: DemoConfig, generator: torch.Generator) -> dict:
    """Sample `rollout_n` answers per problem, grade them, and compute what the update needs."""
    device = next(model.parameters()).device
    pairs = pairs.repeat_interleave(cfg.rollout_n, dim=0)
    prompts = prompt_ids(pairs).to(device)
    responses, response_mask = sample(model, prompts, generator)
    rewards = grade(responses.cpu(), response_mask.cpu(), pairs).to(device)
    with torch.no_grad():  # verl recomputes old log-probs with the training forward too: the first r is exactly 1
        _, old_log_probs, entropy = forward_response(model, prompts, responses, response_mask)
    token_rewards = torch.zeros_like(old_log_probs)
    token_rewards[torch.arange(len(rewards)), response_mask.sum(-1) - 1] = rewards  # outcome reward, last token
    group_uid = np.repeat(np.arange(len(pairs) // cfg.rollout_n), cfg.rollout_n)
    # The plugin's registered estimator, as verl's trainer would call it; with norm_adv_by_std_in_grpo it gives
    # verl's grpo numbers, so all three methods get identical advantages from identical rewards.
    advantages, _ = get_adv_estimator_fn("abc_grpo")(
        token_rewards,
        response_mask,
        index=group_uid,
        config=AlgoConfig(adv_estimator="abc_grpo", norm_adv_by_std_in_grpo=True),
    )
    return {
        "prompts": prompts,
        "responses": responses,
        "response_mask": response_mask,
        "rewards": rewards,
        "old_log_probs": old_log_probs,
        "advantages": advantages,
        "entropy": (entropy * response_mask).sum().item() / response_mask.sum().item(),
        "response_length": response_mask.sum(-1).float().mean().item(),
        "truncated": 1.0 - (responses == EOS).any(-1).float().mean().item(),  # no <eos> within RESPONSE_LEN
        "num_tokens": prompts.numel() + int(response_mask.sum()),  # prompt + response, as verl counts a batch
    }


def ppo_update(model, optimizer, scheduler, config: ActorConfig, batch: dict, cfg: DemoConfig):
    """`ppo_epochs` passes over the rollout, `mini_batches` optimizer steps each, every loss through ppo_loss.

    Returns the mean over the optimizer steps of each metric ppo_loss returned, of the quadrant shares and of the
    gradient norm, and the restoring-force counts (`band_*`, summed over the optimizer steps):
        band_token_steps: valid tokens of the rollout batch x optimizer steps;
        band_out_q*: of those token-steps, the ones outside the band right after an optimizer step, by quadrant;
        band_seen_out_q*: tokens outside the band when their own mini-batch's update came (what ABC-GRPO clips);
        band_back_q*: of those, the ones back inside the band right after that update.
    """
    loss_metrics, quadrants, grad_norms = {}, [], []
    band = {key: torch.zeros(4, dtype=torch.long) for key in ("out", "seen_out", "back")}
    token_steps = 0
    for _ in range(cfg.ppo_epochs):
        # In order, not shuffled: a mini-batch then holds whole groups, as verl's default (shuffle off) does.
        for rows in torch.arange(len(batch["prompts"])).chunk(cfg.mini_batches):
            prompts, responses, mask = batch["prompts"][rows], batch["responses"][rows], batch["response_mask"][rows]
            data = TensorDict(
                {
                    "prompts": prompts,
                    "responses": responses,
                    "attention_mask": torch.cat([torch.ones_like(prompts), mask], dim=1),
                    "response_mask": mask,
                    "old_log_probs": batch["old_log_probs"][rows],
                    "advantages": batch["advantages"][rows],
                },
                batch_size=[len(rows)],
            )
            # One micro-batch per mini-batch on one rank: the global normalisers are this mini-batch's own.
            tu.assign_non_tensor(data, dp_size=1, batch_num_tokens=int(mask.sum()), global_batch_size=len(rows))
            flat_log_probs, log_probs, _ = forward_response(model, prompts, responses, mask)
            before = quadrant_of(log_probs.detach(), batch["old_log_probs"][rows], batch["advantages"][rows], mask)
            loss, metrics = ppo_loss(config, {"log_probs": flat_log_probs}, data)
            optimizer.zero_grad()
            loss.backward()
            grad_norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)))
            optimizer.step()
            scheduler.step()
            for key, metric in metrics.items():
                loss_metrics.setdefault(key, []).append(float(metric.aggregate()))
            quadrants.append(quadrant_counts(before).float() / mask.sum())

            # Where is every token of the rollout now? Out-of-band time, and whether this update brought its own
            # out-of-band tokens back (vanilla's gradient in Q2/Q4 pulls them back; ABC-GRPO gives them none).
            everything = batch["prompts"], batch["responses"], batch["response_mask"]
            with torch.no_grad():
                _, all_log_probs, _ = forward_response(model, *everything)
            after = quadrant_of(all_log_probs, batch["old_log_probs"], batch["advantages"], batch["response_mask"])
            token_steps += int(batch["response_mask"].sum())
            band["out"] += quadrant_counts(after)
            band["seen_out"] += quadrant_counts(before)
            band["back"] += quadrant_counts(before[after[rows] == 0])
    loss_means = {key: float(np.mean(values)) for key, values in sorted(loss_metrics.items())}
    band_counts = {"band_token_steps": token_steps}
    band_counts |= {f"band_{key}_q{q}": int(counts[q - 1]) for key, counts in band.items() for q in range(1, 5)}
    return loss_means, torch.stack(quadrants).mean(0).tolist(), float(np.mean(grad_norms)), band_counts


def train_method(method: Method, init_state: dict, problems, cfg: DemoConfig, seed: int, device: str, progress,
                 write: Callable[[dict], None]):
    """The RL loop of one method from the warm-started weights; one metrics record per step, each handed to `write`
    as soon as it is complete."""
    train_pairs, heldout_pairs = problems
    model = build_policy(cfg.hidden, cfg.layers, seed, device)
    model.load_state_dict(init_state)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    # Linear warm-up over the first rollouts: a fresh Adam moves every weight by ~lr per update at first, which
    # alone throws many tokens out of the clip band before any learning signal is in.
    updates_per_step = cfg.ppo_epochs * cfg.mini_batches
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda update: min(1.0, (update + 1) / max(1, cfg.lr_warmup_steps * updates_per_step))
    )
    config = actor_config(method, cfg.rollout_n)

    records = []
    for step in range(cfg.steps):
        # Same prompts and same random streams for every method at this step: only the loss differs.
        prompt_gen = torch.Generator().manual_seed(rng_seed(seed, stream=1, step=step))
        pairs = train_pairs[torch.randint(len(train_pairs), (cfg.prompts_per_step,), generator=prompt_gen)]
        batch = rollout(model, pairs, cfg, torch.Generator(device).manual_seed(rng_seed(seed, stream=2, step=step)))
        record = {
            "seed": seed,
            "method": method.name,
            "loss_mode": method.loss_mode,
            "clip_ratio_c": method.clip_ratio_c,
            "step": step,
            # reward, entropy and pass@k describe the policy that sampled this step's rollout (before its update)
            "reward": batch["rewards"].mean().item(),
            "entropy": batch["entropy"],
            "response_length": batch["response_length"],
            "truncated": batch["truncated"],
            "num_tokens": batch["num_tokens"],
        }
        if step % cfg.eval_every == 0 or step == cfg.steps - 1:
            eval_gen = torch.Generator(device).manual_seed(rng_seed(seed, stream=3, step=step))
            record.update(evaluate(model, heldout_pairs, cfg.eval_samples, eval_gen))

        loss_means, quadrants, grad_norm, band_counts = ppo_update(model, optimizer, scheduler, config, batch, cfg)
        record.update(
            {
                # means over this step's optimizer steps
                "ppo_kl": loss_means["actor/ppo_kl"],
                "pg_clipfrac": loss_means["actor/pg_clipfrac"],
                "grad_norm": grad_norm,  # before clipping at 1.0, as verl's actor/grad_norm
                **{f"quadrant_q{q}": share for q, share in enumerate(quadrants, start=1)},
                **band_counts,  # sums over this step's optimizer steps
                "loss_metrics": loss_means,  # verbatim from ppo_loss: its keys show which loss actually ran
            }
        )
        records.append(record)
        write(record)
        progress.set_postfix(method=method.name, reward=f"{record['reward']:.2f}", entropy=f"{record['entropy']:.3f}")
        progress.update()
    return records


# ----------------------------------------------------------------------------------------------------------------
# Outputs: summary.md and dynamics.png from the records.

PASS_K = f"pass@{DemoConfig.eval_samples}"
FINAL_SHARE = 0.2  # "final" = the mean over the last 20% of steps: one step's value is mostly sampling noise


def by_method_and_seed(records: list[dict]) -> dict[str, dict[int, list[dict]]]:
    runs = {}
    for record in records:
        runs.setdefault(record["method"], {}).setdefault(record["seed"], []).append(record)
    return runs


def final_value(records: list[dict], key: str) -> float:
    """Mean of `key` over the records of the last FINAL_SHARE of steps that have it (pass@k is not every step)."""
    num_steps = records[-1]["step"] + 1
    first = num_steps - max(1, round(FINAL_SHARE * num_steps))
    return float(np.mean([r[key] for r in records if key in r and r["step"] >= first]))


def run_stats(records: list[dict]) -> dict[str, float]:
    """What the summary table shows for one (method, seed) run."""
    stats = {f"{key} start": records[0][key] for key in ("reward", "entropy")}
    stats |= {f"{key} final": final_value(records, key) for key in ("reward", "entropy", "pass@1", PASS_K)}
    for key in ("pg_clipfrac", "ppo_kl", "quadrant_q1", "quadrant_q2", "quadrant_q3", "quadrant_q4"):
        stats[f"{key} mean"] = float(np.mean([r[key] for r in records]))
    return stats


def compare(runs, key: str, method: str, baseline: str) -> str:
    """One sentence: in how many seeds `method` ended above `baseline` on `key`, with the numbers."""
    seeds = sorted(runs[method])
    ours = [final_value(runs[method][s], key) for s in seeds]
    theirs = [final_value(runs[baseline][s], key) for s in seeds]
    higher = sum(o > t for o, t in zip(ours, theirs, strict=True))
    lower = sum(o < t for o, t in zip(ours, theirs, strict=True))
    if len(seeds) == 1:
        verdict = "higher" if higher else "lower" if lower else "equal"
    elif higher == len(seeds):
        verdict = f"higher in all {len(seeds)} seeds"
    elif lower == len(seeds):
        verdict = f"lower in all {len(seeds)} seeds"
    else:
        verdict = f"higher in {higher}, lower in {lower} of {len(seeds)} seeds: no consistent direction"
    difference = np.mean(ours) - np.mean(theirs)
    detail = ", ".join(f"seed {s}: {o:.3f} vs {t:.3f}" for s, o, t in zip(seeds, ours, theirs, strict=True))
    return (
        f"Final {key}, {METHOD_BY_NAME[method].title} vs {METHOD_BY_NAME[baseline].title}: {verdict} "
        f"({detail}; mean difference {difference:+.3f}, {difference / np.mean(theirs):+.1%})."
    )


def write_summary(path: Path, records: list[dict], cfg: DemoConfig, meta: dict) -> None:
    runs = by_method_and_seed(records)
    seeds = sorted(runs[METHODS[0].name])
    lines = [
        "# ABC-GRPO demo: what this run showed",
        "",
        '- Task: two-digit addition ("37+45=" -> "82"), graded by exact integer match.',
        f"- Policy: tiny Qwen3 (hidden {cfg.hidden}, {cfg.layers} layers, {meta['parameters']:,} parameters, "
        f"random init), warm-started by supervised learning, stopped once {cfg.warm_target:.0%} of the answers "
        f"sampled for a training batch were right or after {cfg.warm_max_steps} steps "
        f"({', '.join(f'seed {s}: {n} steps' for s, n in meta['warm_steps'].items())}); every method of a seed "
        "starts from those same weights (the reward at step 0 is where they start).",
        f"- RL: {cfg.steps} steps per method; per step {cfg.prompts_per_step} prompts x {cfg.rollout_n} samples at "
        f"temperature 1, advantages from the registered `abc_grpo` estimator (= verl `grpo`), "
        f"{cfg.ppo_epochs} epoch(s) x {cfg.mini_batches} mini-batches through verl's `ppo_loss`, AdamW lr {cfg.lr} "
        f"(linear warm-up over {cfg.lr_warmup_steps} steps).",
        f"- Seeds: {seeds}. Device: {meta['device']}. Wall-clock: {meta['wall_clock_s']:.0f} s "
        "(warm start + training + evaluation, without Python imports).",
        "",
        f"## Results: mean over {len(seeds)} seed(s); final = mean over the last {FINAL_SHARE:.0%} of steps",
        "",
        "| method | reward start -> final | entropy start -> final (nats) | pass@1 final | "
        f"{PASS_K} final | pg_clipfrac | ppo_kl | Q1 | Q2 | Q3 | Q4 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        stats = [run_stats(runs[method.name][seed]) for seed in seeds]
        mean = {key: float(np.mean([s[key] for s in stats])) for key in stats[0]}
        cells = [
            f"{mean['reward start']:.3f} -> {mean['reward final']:.3f}",
            f"{mean['entropy start']:.3f} -> {mean['entropy final']:.3f}",
            f"{mean['pass@1 final']:.3f}",
            f"{mean[f'{PASS_K} final']:.3f}",
            f"{mean['pg_clipfrac mean']:.3f}",
            f"{mean['ppo_kl mean']:.4f}",
            *(f"{mean[f'quadrant_q{q} mean']:.3f}" for q in range(1, 5)),
        ]
        lines.append(f"| {method.label} | {' | '.join(cells)} |")
    lines += [
        "",
        f"- pass@1 and {PASS_K}: held-out, {cfg.eval_samples} samples on each of {cfg.num_heldout} problems never "
        "trained on.",
        f"- Q1..Q4: share of response tokens whose ratio r left [{1 - CLIP_EPS}, {1 + CLIP_EPS}], by quadrant "
        "(Q1 A>0 r high, Q2 A>0 r low, Q3 A<0 r low, Q4 A<0 r high), mean over steps. Measured by the demo the same "
        "way for every method. ABC-GRPO zeroes the gradient of all of them; vanilla zeroes Q1 and Q3, keeps the "
        "gradient in Q2, and in Q4 up to r = clip_ratio_c.",
        "- pg_clipfrac: each loss's own metric, and they count different things: ABC-GRPO counts every token "
        "outside its band (Q1+Q2+Q3+Q4); vanilla counts tokens where its clipped term wins (Q1+Q3).",
        "",
        "## What this run showed",
        "",
        *(
            f"- {compare(runs, key, 'abc_grpo', baseline)}"
            for key in ("entropy", PASS_K, "reward")
            for baseline in ("grpo", "dual_clip")
        ),
        "",
        "These sentences are computed from this run's metrics.jsonl. Read a difference as an effect only if it "
        "has the same sign in every seed and is not tiny next to the curves' step-to-step noise (see "
        f"dynamics.png). This is {len(seeds)} seed(s) of a {meta['parameters']:,}-parameter model for "
        f"{cfg.steps} steps on a toy task; the paper's entropy and Pass@k results (Qwen3-1.7B/4B, hundreds of steps "
        "on competition math) are its own claims and are not tested here.",
        "",
        "The `loss_metrics` in metrics.jsonl are verbatim from verl's `ppo_loss`: only the ABC-GRPO run has "
        "`actor/abc_clipfrac_q1..q4`, the metrics of the plugin's loss, which shows which registered loss ran.",
    ]
    path.write_text("\n".join(lines) + "\n")


SMOOTH_STEPS = 5  # per-step curves are noisy (128 samples a step): plot their trailing mean over 5 steps


def write_dynamics(path: Path, records: list[dict], metrics_path: Path) -> None:
    """dynamics.png, drawn by the training-dynamics report's code from the same records as metrics.jsonl."""
    runs = demo_runs(metrics_path, records, label="", method_labels={m.name: m.label for m in METHODS})
    seeds = sorted({record["seed"] for record in records})
    title = f"ABC-GRPO vs GRPO vs dual-clip, tiny Qwen3 on two-digit addition, seeds {seeds}"
    plot_dynamics(path, runs, smooth=SMOOTH_STEPS, title=title)


# ----------------------------------------------------------------------------------------------------------------
# Entry point.


# The outputs and the names they are written under until the run has finished: a rerun into a finished folder
# leaves that run's files intact until it has its own, and a stopped run leaves its steps in metrics.partial.jsonl.
OUTPUTS = ("metrics.jsonl", "summary.md", "dynamics.png")
STAGED = {name: f"{Path(name).stem}.partial{Path(name).suffix}" for name in OUTPUTS}


def run(cfg: DemoConfig, seeds: list[int], output_dir: Path, device: str) -> list[dict]:
    """Warm-start and train every method for every seed; write metrics.jsonl as it goes (under its STAGED name, so
    a killed run keeps the steps it finished), then summary.md and dynamics.png; each output takes its own name only
    once all are written."""
    # Bitwise-reproducible metrics: one thread (also the fastest choice for a model this small on a shared
    # machine), deterministic kernels, and every random draw from a seeded generator.
    torch.set_num_threads(1)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS determinism on --device cuda
    torch.use_deterministic_algorithms(True, warn_only=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    staged = {name: output_dir / STAGED[name] for name in OUTPUTS}

    start = time.perf_counter()
    records, warm_steps = [], {}
    progress = tqdm(total=len(seeds) * len(METHODS) * cfg.steps, desc="RL steps", disable=None)
    with open(staged["metrics.jsonl"], "x") as metrics:  # "x": main refused a leftover; never append to one

        def write(record: dict) -> None:
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()

        for seed in seeds:
            problems = make_problems(seed, cfg.num_heldout)
            model = build_policy(cfg.hidden, cfg.layers, seed, device)
            parameters = sum(p.numel() for p in model.parameters())
            # Every method of this seed starts from these exact weights.
            init_state, warm_steps[seed] = warm_start(model, problems[0], cfg, seed, device)
            for method in METHODS:
                records += train_method(method, init_state, problems, cfg, seed, device, progress, write)
    progress.close()
    meta = {
        "device": device,
        "parameters": parameters,
        "warm_steps": warm_steps,
        "wall_clock_s": time.perf_counter() - start,
    }

    write_summary(staged["summary.md"], records, cfg, meta)
    write_dynamics(staged["dynamics.png"], records, output_dir / "metrics.jsonl")
    for name in OUTPUTS:
        os.replace(staged[name], output_dir / name)
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m abc_grpo_verl.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", type=int, default=None, help=f"RL steps per method [{DemoConfig.steps}; --quick: {QUICK['steps']}]"
    )
    seed_group = parser.add_mutually_exclusive_group()
    seed_group.add_argument("--seed", type=int, default=None, help="run this one seed")
    seed_group.add_argument(
        "--seeds", type=int, nargs="+", default=None, help=f"seeds to run [{DEFAULT_SEEDS}; --quick: {QUICK_SEEDS}]"
    )
    parser.add_argument(
        "--hidden", type=int, default=DemoConfig.hidden, help=f"model width, a multiple of 8 [{DemoConfig.hidden}]"
    )
    parser.add_argument("--layers", type=int, default=DemoConfig.layers, help=f"decoder layers [{DemoConfig.layers}]")
    parser.add_argument("--lr", type=float, default=DemoConfig.lr, help=f"RL learning rate, AdamW [{DemoConfig.lr}]")
    parser.add_argument(
        "--lr-warmup-steps",
        type=int,
        default=None,
        help=f"rollout steps of linear lr warm-up, 0 = none [{DemoConfig.lr_warmup_steps}; --quick: "
        f"{QUICK['lr_warmup_steps']}]",
    )
    parser.add_argument(
        "--mini-batches",
        type=int,
        default=DemoConfig.mini_batches,
        help=f"optimizer steps per pass over a rollout batch; divides the {DemoConfig.prompts_per_step} prompts "
        f"[{DemoConfig.mini_batches}]",
    )
    parser.add_argument(
        "--ppo-epochs",
        type=int,
        default=DemoConfig.ppo_epochs,
        help=f"passes over each rollout batch [{DemoConfig.ppo_epochs}]",
    )
    parser.add_argument(
        "--warm-target",
        type=float,
        default=None,
        help=f"sampled accuracy that stops the supervised warm start, in (0, 1] [{DemoConfig.warm_target}; --quick: "
        f"{QUICK['warm_target']}]",
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        default=None,
        help=f"held-out evaluation every N steps (and at the last) [{DemoConfig.eval_every}; --quick: "
        f"{QUICK['eval_every']}]",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("runs/demo"), help="[runs/demo]")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="[cpu]")
    parser.add_argument("--quick", action="store_true", help="smoke run for the test suite (< 60 s)")
    args = parser.parse_args(argv)
    checks = (
        # 4 attention heads with an even head size, for RoPE
        ("--hidden", args.hidden, args.hidden >= 8 and args.hidden % 8 == 0, "a positive multiple of 8"),
        ("--layers", args.layers, args.layers >= 1, ">= 1"),
        ("--steps", args.steps, args.steps is None or args.steps >= 1, ">= 1"),
        ("--lr", args.lr, math.isfinite(args.lr) and args.lr > 0, "a finite number > 0"),
        ("--lr-warmup-steps", args.lr_warmup_steps, args.lr_warmup_steps is None or args.lr_warmup_steps >= 0, ">= 0"),
        # equal mini-batches of whole groups: the group baseline of every sample is in the same mini-batch
        (
            "--mini-batches",
            args.mini_batches,
            args.mini_batches >= 1 and DemoConfig.prompts_per_step % args.mini_batches == 0,
            f"a divisor of {DemoConfig.prompts_per_step}",
        ),
        ("--ppo-epochs", args.ppo_epochs, args.ppo_epochs >= 1, ">= 1"),
        ("--warm-target", args.warm_target, args.warm_target is None or 0 < args.warm_target <= 1, "in (0, 1]"),
        ("--eval-every", args.eval_every, args.eval_every is None or args.eval_every >= 1, ">= 1"),
    )
    for flag, value, ok, valid in checks:
        if not ok:
            parser.error(f"{flag} must be {valid}, got {value}")
    if args.seeds is not None and len(set(args.seeds)) < len(args.seeds):
        repeated = sorted({seed for seed in args.seeds if args.seeds.count(seed) > 1})
        parser.error(f"--seeds lists {repeated} more than once; each seed is one run of every method")
    if (problem := output_dir_problem(args.output_dir)) is not None:
        parser.error(problem)
    if leftovers := [STAGED[name] for name in OUTPUTS if (args.output_dir / STAGED[name]).exists()]:
        parser.error(f"--output-dir {args.output_dir} holds {', '.join(leftovers)}, left by a demo stopped before it "
                     f"finished ({STAGED['metrics.jsonl']}: the steps it finished; a finished run's "
                     f"{', '.join(OUTPUTS)} there are untouched): move or delete {', '.join(leftovers)} to run here "
                     "again, or give another --output-dir")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    if importlib.util.find_spec("matplotlib") is None:  # fail now, not after minutes of training
        parser.error("dynamics.png needs matplotlib: pip install matplotlib")

    overrides = dict(QUICK) if args.quick else {}
    for name in ("steps", "lr_warmup_steps", "warm_target", "eval_every"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    cfg = DemoConfig(
        hidden=args.hidden,
        layers=args.layers,
        lr=args.lr,
        mini_batches=args.mini_batches,
        ppo_epochs=args.ppo_epochs,
        **overrides,
    )
    seeds = args.seeds or ([args.seed] if args.seed is not None else list(QUICK_SEEDS if args.quick else DEFAULT_SEEDS))
    run(cfg, seeds, args.output_dir, args.device)
    print((args.output_dir / "summary.md").read_text())
    print(f"Wrote {args.output_dir}/metrics.jsonl, summary.md and dynamics.png")


if __name__ == "__main__":
    main()
