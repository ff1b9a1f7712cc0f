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
"""verl glue: the ``abc_grpo`` policy loss and advantage estimator, registered in verl's core-algorithm registries.

Importing this module registers both (the ``verl.plugins`` entry point does it on every ``import verl``).
"""

import logging
import os
import warnings
from typing import Any

import numpy as np
import torch
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.core_algos import register_adv_est, register_policy_loss
from verl.workers.config import ActorConfig

from abc_grpo_verl.config import resolve_bounds, resolve_ratio_level
from abc_grpo_verl.core import STAT_NAMES, Normalisers, abc_policy_loss, group_relative_advantage, quadrant_counts

NAME = "abc_grpo"

# verl's grpo uses this epsilon and gives no way to change it; the same value keeps the numbers identical.
GRPO_STD_EPSILON = 1e-6

# 1 = run the loss step through torch.compile (fused kernels; exact to ~1e-7), 0 = eager (default).
COMPILE_ENV = "ABC_GRPO_COMPILE"
_compiled_step = None  # the compiled step, built on first use; False once compiling has failed

# `abc_grpo` may already be registered: by a verl release that ships it upstream, or by an earlier import (a reload,
# a second copy) of this module. The plugin's versions win, since its config subclass and metrics are what the user
# installed. verl's loss registry would overwrite silently but its estimator registry raises on a second function,
# so drop earlier entries first, and say so when they were not this module's (see upstream/README.md).
for _registry in (core_algos.POLICY_LOSS_REGISTRY, core_algos.ADV_ESTIMATOR_REGISTRY):
    _earlier = _registry.pop(NAME, None)
    if _earlier is not None and getattr(_earlier, "__module__", None) != __name__:
        logging.getLogger(__name__).info(
            "the '%s' %s registered by %s is replaced by abc_grpo_verl's (the installed plugin wins)",
            NAME, "policy loss" if _registry is core_algos.POLICY_LOSS_REGISTRY else "advantage estimator",
            getattr(_earlier, "__module__", repr(_earlier)),
        )


def _compile_requested() -> bool:
    choice = os.environ.get(COMPILE_ENV, "0")
    if choice not in ("0", "1"):
        raise ValueError(f"{COMPILE_ENV}={choice!r} is invalid: must be 0 (eager) or 1 (torch.compile fused path)")
    return choice == "1"


def _step_function(args: tuple) -> Any:
    """Eager by default; ABC_GRPO_COMPILE=1 compiles the step (forward and backward) into fused kernels."""
    global _compiled_step
    if not _compile_requested() or _compiled_step is False:
        return abc_policy_loss
    if _compiled_step is None:
        # dynamic: batch shapes and token counts change every step, and must not trigger recompiles
        compiled = torch.compile(abc_policy_loss, dynamic=True)
        # Inductor compiles the backward lazily, at the first backward() inside verl, where a failure could no longer
        # fall back to eager: run one forward + backward on this very batch first (same device, dtype, bounds, sizes,
        # so the real call reuses the graph). log_prob becomes a leaf of its own, so the warm-up backward stays out
        # of the model's graph; a clone, as dynamo would guard a detached view through its base.
        warm_up = list(args)
        warm_up[0] = args[0].detach().clone().requires_grad_(True)
        compiled(*warm_up)[0].backward()
        _compiled_step = compiled
    return _compiled_step


@register_policy_loss(NAME)
def compute_policy_loss_abc_grpo(
    old_log_prob: torch.Tensor,
    log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    loss_agg_mode: str = "token-mean",
    config: ActorConfig | None = None,
    rollout_is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """ABC-GRPO policy loss: -A * clip(r, 1 - eps_low(A), 1 + eps_high(A)), no ``min`` (arXiv 2601.03895).

    Args:
        old_log_prob: `(torch.Tensor)` shape (bs, response_length), log-probs under the rollout-time policy.
        log_prob: `(torch.Tensor)` shape (bs, response_length), log-probs under the current policy.
        advantages: `(torch.Tensor)` shape (bs, response_length), advantage estimates.
        response_mask: `(torch.Tensor)` shape (bs, response_length), valid response tokens.
        loss_agg_mode: `(str)` one of verl's five ``agg_loss`` modes.
        config: `(verl.workers.config.ActorConfig)` the actor config; the widths come from
            ``config.policy_loss.clip_{pos,neg}_{high,low}`` (null = ``clip_ratio_high``/``clip_ratio_low``),
            the ratio level from ``config.policy_loss.ratio_level``, normalisers from ``config.global_batch_info``.
        rollout_is_weights: `(torch.Tensor | None)` shape (bs, response_length), rollout-correction weights.

    Returns:
        pg_loss: `(torch.Tensor)` scalar, aggregated exactly as verl's ``vanilla`` aggregates.
        metrics: `(dict[str, float])` over this micro-batch's valid tokens, averaged by verl like vanilla's:
            ``actor/pg_clipfrac`` share whose gradient the band zeroed (Q1+Q2+Q3+Q4);
            ``actor/ppo_kl`` mean of log pi_old - log pi;
            ``actor/pg_clipfrac_lower`` the Q4 share (A<0, r above 1+eps3): the closest meaning to vanilla's
            dual-clip metric of the same name;
            ``actor/abc_clipfrac_q1`` .. ``actor/abc_clipfrac_q4`` each quadrant's share.
    """
    if config is None:
        raise ValueError("the abc_grpo policy loss needs the actor config (config=...) to read its clip widths")
    # A bool mask goes in as its free uint8 view, outside any compiled region: converting bool to float costs as much
    # as the rest of the step on CPU, eager or compiled, and a bool -> uint8 view traced inside a kernel is slow too.
    mask = response_mask.view(torch.uint8) if response_mask.dtype == torch.bool else response_mask
    args = (log_prob, old_log_prob, advantages, mask, resolve_bounds(config), resolve_ratio_level(config),
            rollout_is_weights, loss_agg_mode, Normalisers(**config.global_batch_info))
    try:
        pg_loss, stats = _step_function(args)(*args)
    except ValueError:  # bad input (an unknown loss_agg_mode, a missing normaliser): the same error on either path
        raise
    except Exception as error:  # a compiler or toolchain problem must never stop training: fall back to eager
        if not _compile_requested():
            raise
        global _compiled_step
        _compiled_step = False
        warnings.warn(f"{COMPILE_ENV}=1: torch.compile failed ({error!r}); using the eager path", stacklevel=2)
        pg_loss, stats = abc_policy_loss(*args)

    values = dict(zip(STAT_NAMES, stats.tolist(), strict=True))  # the one device-to-host transfer
    values.update(quadrant_counts(values))
    valid = values["valid_tokens"]

    def share(count: float) -> float:
        return count / valid if valid > 0 else 0.0

    quadrant_shares = {f"actor/abc_clipfrac_{q}": share(values[q]) for q in ("q1", "q2", "q3", "q4")}
    metrics = {
        "actor/pg_clipfrac": share(values["q1"] + values["q2"] + values["q3"] + values["q4"]),
        "actor/ppo_kl": share(values["neg_log_ratio_sum"]),
        "actor/pg_clipfrac_lower": quadrant_shares["actor/abc_clipfrac_q4"],
        **quadrant_shares,
    }
    return pg_loss, metrics


@register_adv_est(NAME)
def compute_abc_grpo_outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: np.ndarray | None = None,
    config: Any | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-relative outcome advantage for ABC-GRPO (paper Eq. 3), the same numbers as verl's ``grpo``.

    verl's trainer calls custom estimators with only ``token_level_rewards``, ``response_mask``, ``index`` and
    ``config`` (the ``algorithm`` node), so ``norm_adv_by_std_in_grpo`` is read from ``config`` here: true
    (default) divides by the group std as verl's ``grpo``; false keeps the paper's plain R - mean(R).

    Args:
        token_level_rewards: `(torch.Tensor)` shape (bs, response_length); the outcome reward is its row sum.
        response_mask: `(torch.Tensor)` shape (bs, response_length).
        index: `(np.ndarray)` shape (bs,), the prompt uid of each response: responses sharing a uid form a group.
        config: `(AlgoConfig | DictConfig | None)` the ``algorithm`` config.

    Returns:
        advantages: `(torch.Tensor)` shape (bs, response_length), the group advantage broadcast over the mask.
        returns: `(torch.Tensor)` shape (bs, response_length), the same tensor (as verl's ``grpo``).
    """
    if index is None:
        raise ValueError(
            "the abc_grpo advantage estimator needs the prompt uid of each response (verl's `uid` field) to form "
            "groups, and got index=None"
        )
    norm_by_std = bool(config.get("norm_adv_by_std_in_grpo", True)) if config is not None else True
    _, group_ids = np.unique(np.asarray(index), return_inverse=True)
    group_ids = torch.as_tensor(group_ids.reshape(-1), dtype=torch.long, device=token_level_rewards.device)
    with torch.no_grad():
        scores = group_relative_advantage(
            token_level_rewards.sum(dim=-1), group_ids, norm_by_std=norm_by_std, epsilon=GRPO_STD_EPSILON
        )
        advantages = scores.unsqueeze(-1) * response_mask
    return advantages, advantages
