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

Importing this module registers both, and the baselines' ``abc_grpo_vanilla`` loss (``baseline``); the
``verl.plugins`` entry point does it on every ``import verl``.
"""

import logging
import math
import warnings
from collections import Counter
from collections.abc import Hashable
from typing import Any

import numpy as np
import torch
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.core_algos import register_adv_est, register_policy_loss
from verl.workers.config import ActorConfig

from abc_grpo_verl.config import (
    BAND_METRICS,
    COMPILE_ENV,
    ENV_SWITCHES,
    env_switch,
    resolve_bounds,
    resolve_ratio_level,
)
from abc_grpo_verl.core import QUADRANTS, ClipBounds, abc_token_loss

NAME = "abc_grpo"
logger = logging.getLogger(__name__)

# verl's grpo uses this epsilon and gives no way to change it; the same value keeps the numbers identical.
GRPO_STD_EPSILON = 1e-6

# How far above 0 a log-prob may round: log_softmax as x - logsumexp(x) rounds at the magnitude of the logits,
# a 16-bit ulp there reaching 0.06 (at 10) to 0.5 (at 100); fp32 rounds 1e4 times finer.
POSITIVE_LOG_PROB_SLACK = {False: 1e-3, True: 0.5}

_compiled_step = None  # the compiled step, built on first use; False once compiling has failed
# Positive log-probs are warned about once per process (they come every micro-batch when they come at all); each
# micro-batch counts them in the metric POSITIVE_LOG_PROBS_METRIC.
_warned_positive_log_probs = False
POSITIVE_LOG_PROBS_METRIC = "actor/abc_positive_log_probs"

# `abc_grpo` may already be registered: by a verl release that ships it upstream, or by an earlier import (a reload,
# a second copy) of this module. The plugin's versions win, since its config subclass and metrics are what the user
# installed. verl's loss registry would overwrite silently but its estimator registry raises on a second function,
# so drop earlier entries first, and say so when they were not this module's (see upstream/README.md).
for _registry in (core_algos.POLICY_LOSS_REGISTRY, core_algos.ADV_ESTIMATOR_REGISTRY):
    _earlier = _registry.pop(NAME, None)
    if _earlier is not None and getattr(_earlier, "__module__", None) != __name__:
        logger.info(
            "the '%s' %s registered by %s is replaced by abc_grpo_verl's (the installed plugin wins)",
            NAME, "policy loss" if _registry is core_algos.POLICY_LOSS_REGISTRY else "advantage estimator",
            getattr(_earlier, "__module__", repr(_earlier)),
        )


def abc_loss_step(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    rollout_is_weights: torch.Tensor | None,
    bounds: ClipBounds,
    ratio_level: str,
    loss_agg_mode: str,
    global_batch_info: dict[str, Any],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The aggregated loss and its statistics: the paper's per-token loss, then verl's plumbing, as ``vanilla``.

    Returns:
        pg_loss: `(torch.Tensor)` scalar, verl's ``agg_loss`` of -A * clip(r) [* rollout_is_weights].
        stats: `(torch.Tensor)` shape (9,), float64 (exact counts): the sum of -log r over valid tokens, the number
            of valid tokens, the Q1..Q4 token counts, the number of mask entries other than 0 and 1, and the numbers
            of valid positions where log_prob and old_log_prob are impossible (see `impossible_log_probs`).
    """
    terms = abc_token_loss(log_prob, old_log_prob, advantages, response_mask, bounds, ratio_level)
    pg_losses = terms.loss_mat
    if rollout_is_weights is not None:  # where vanilla applies them; padding selected away like the other inputs
        pg_losses = pg_losses * torch.where(response_mask.bool(), rollout_is_weights, 0.0)
    # looked up at call time, as verl's own losses do: whatever the installed verl's agg_loss accepts works here
    pg_loss = core_algos.agg_loss(
        loss_mat=pg_losses, loss_mask=response_mask, loss_agg_mode=loss_agg_mode, **global_batch_info
    )

    if response_mask.dtype == torch.bool:
        not_binary = torch.zeros((), dtype=torch.int64, device=response_mask.device)
    else:
        not_binary = ((response_mask != 0) & (response_mask != 1)).sum()
    impossible = [impossible_log_probs(tensor, response_mask).sum() for tensor in (log_prob, old_log_prob)]
    counts = [response_mask.bool().sum(), *(quadrant.sum() for quadrant in terms.quadrants), not_binary, *impossible]
    stats = torch.stack([(-terms.log_ratio.sum()).double(), *(count.double() for count in counts)])
    return pg_loss, stats


def impossible_log_probs(log_prob: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """The valid positions whose log-probability no distribution gives: +-inf (a sampled token had probability > 0;
    at the sequence level one would make the whole sequence NaN) or above 0 by more than rounding (probability > 1).
    NaN is left to verl, as in ``vanilla``: the loss is NaN and verl skips the step on its non-finite grad norm."""
    slack = POSITIVE_LOG_PROB_SLACK[log_prob.dtype in (torch.float16, torch.bfloat16)]
    return response_mask.bool() & (torch.isinf(log_prob) | (log_prob > slack))


def _step_function(args: tuple) -> Any:
    """Under ABC_GRPO_COMPILE=1: the same step compiled (forward and backward) into fused kernels, unless compiling
    failed earlier in this process."""
    global _compiled_step
    if _compiled_step is False:
        return abc_loss_step
    if _compiled_step is None:
        # dynamic: batch shapes and token counts change every step, and must not trigger recompiles
        compiled = torch.compile(abc_loss_step, dynamic=True)
        # Inductor compiles the backward lazily, at the first backward() inside verl, where a failure could no longer
        # fall back to eager: run one forward + backward on this very batch first (same device, dtype, bounds, sizes,
        # so the real call reuses the graph). log_prob becomes a leaf of its own, so the warm-up backward stays out
        # of the model's graph; a clone, as dynamo would guard a detached view through its base.
        warm_up = list(args)
        warm_up[0] = args[0].detach().clone().requires_grad_(True)
        compiled(*warm_up)[0].backward()
        _compiled_step = compiled
    return _compiled_step


def _refuse_impossible_log_probs(name: str, tensor: torch.Tensor, response_mask: torch.Tensor, count: int) -> None:
    """+-inf at a valid position is an error naming the first infinite one (at the sequence level it would make the
    sequence's loss NaN); finite values above 0 are warned about once per process, naming the first, as the loss
    stays what it would be."""
    valid = response_mask.bool()
    infinite = (valid & torch.isinf(tensor)).nonzero()
    if len(infinite):
        row, column = infinite[0].tolist()
        raise ValueError(f"{len(infinite)} valid position(s) of {name} are infinite, the first at [{row}, {column}] = "
                         f"{tensor[row, column].item()!r}: a log-probability must be finite at a valid (response_mask) "
                         "position and <= 0; +-inf there is a bug upstream (the token was sampled, so its probability "
                         "was > 0)")
    global _warned_positive_log_probs
    if _warned_positive_log_probs:
        return
    _warned_positive_log_probs = True
    row, column = impossible_log_probs(tensor, response_mask).nonzero()[0].tolist()
    logger.warning("abc_grpo loss: %d valid position(s) of %s, the first at [%d, %d] = %r > 0: a log-probability is "
                   "<= 0 (up to %g of rounding); this is not one, and the ratio it gives is meaningless. Warned once; "
                   "%s counts them in every micro-batch", count, name, row, column, tensor[row, column].item(),
                   POSITIVE_LOG_PROB_SLACK[tensor.dtype in (torch.float16, torch.bfloat16)], POSITIVE_LOG_PROBS_METRIC)


def _check_global_counts(global_batch_info: dict, valid: float) -> None:
    """verl's agg_loss divides by the global counts when they are given and multiplies by dp_size: a count of 0 (or
    less) while this micro-batch holds valid tokens would give an infinite loss and gradient, or a sign-flipped one;
    a dp_size of 0 a loss of 0, so no gradient at all."""
    if not valid:
        return
    for key, role in (("batch_num_tokens", "the global count agg_loss divides by"),
                      ("global_batch_size", "the global count agg_loss divides by"),
                      ("dp_size", "the data-parallel size agg_loss multiplies by")):
        count = global_batch_info.get(key)
        if count is not None and float(count) <= 0:
            raise ValueError(f"global_batch_info[{key!r}]={count!r} is invalid while this micro-batch holds "
                             f"{int(valid)} valid tokens: {role} must be >= 1")


def _check_loss_inputs(log_prob, old_log_prob, advantages, response_mask, rollout_is_weights) -> None:
    """Shapes must match exactly: broadcasting (A of shape (L,), an old_log_prob of (1, L)) would give a wrong loss.
    An empty batch has no loss (verl's agg_loss would give 0/0): an error, not a NaN."""
    if log_prob.dim() != 2:
        raise ValueError(f"log_prob must have shape (bs, response_length), got {tuple(log_prob.shape)}")
    if log_prob.numel() == 0:
        raise ValueError(f"log_prob has shape {tuple(log_prob.shape)}: the abc_grpo loss needs at least one response "
                         "of at least one token (bs >= 1, response_length >= 1)")
    tensors = {"old_log_prob": old_log_prob, "advantages": advantages, "response_mask": response_mask,
               "rollout_is_weights": rollout_is_weights}
    for name, tensor in tensors.items():
        if tensor is not None and tensor.shape != log_prob.shape:
            raise ValueError(
                f"{name} has shape {tuple(tensor.shape)} but log_prob has {tuple(log_prob.shape)}: "
                "the abc_grpo loss needs every per-token input in the same (bs, response_length) shape"
            )


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
        response_mask: `(torch.Tensor)` shape (bs, response_length), bool or 0/1: valid response tokens.
        loss_agg_mode: `(str)` any mode of the installed verl's ``agg_loss``.
        config: `(verl.workers.config.ActorConfig)` the actor config; the widths come from
            ``config.policy_loss.clip_{pos,neg}_{high,low}`` (null = ``clip_ratio_high``/``clip_ratio_low``),
            the ratio level from ``config.policy_loss.ratio_level``, the normalisers from ``config.global_batch_info``.
        rollout_is_weights: `(torch.Tensor | None)` shape (bs, response_length), rollout-correction weights.

    Returns:
        pg_loss: `(torch.Tensor)` scalar, aggregated by verl's ``agg_loss`` exactly as ``vanilla``'s.
        metrics: `(dict[str, float])` over this micro-batch's valid tokens (verl averages them over micro-batches
            and ranks): ``actor/pg_clipfrac`` the share whose gradient the band zeroed (Q1+Q2+Q3+Q4);
            ``actor/ppo_kl`` mean of log pi_old - log pi; ``actor/pg_clipfrac_lower`` the Q4 share (A<0, r above
            1+eps3, closest to vanilla's dual-clip metric of that name); ``actor/abc_clipfrac_q1`` .. ``_q4`` each
            quadrant's share; ``actor/abc_clip_tokens_q1`` .. ``_q4`` and ``actor/abc_valid_tokens`` the raw counts,
            whose averages divide into the exact token-pooled shares; ``actor/abc_positive_log_probs`` the
            values above 0 (beyond rounding) at valid positions of log_prob and old_log_prob, warned about once;
            ``actor/abc_band_eps1`` .. ``_eps4`` the band.
    """
    if config is None:
        raise ValueError("the abc_grpo policy loss needs the actor config (config=...) to read its clip widths")
    _check_loss_inputs(log_prob, old_log_prob, advantages, response_mask, rollout_is_weights)
    args = (log_prob, old_log_prob, advantages, response_mask, rollout_is_weights, resolve_bounds(config),
            resolve_ratio_level(config), loss_agg_mode, dict(config.global_batch_info))
    fused = env_switch(COMPILE_ENV, ENV_SWITCHES[COMPILE_ENV])  # an invalid setting is an error here, before any step
    step = None
    try:
        step = _step_function(args) if fused else abc_loss_step  # the first fused call compiles here
        pg_loss, stats = step(*args)
    except torch.cuda.OutOfMemoryError:  # the device's, not the compiler's: eager would need the memory too
        raise
    except Exception as error:
        if step is abc_loss_step:  # eager itself failed
            raise
        # The eager step says whose fault it was. Bad input (an unknown loss_agg_mode or batch-info key, a missing
        # normaliser, tensors on two devices) fails there too: its error is raised as eager raises it, and the fused
        # path stays on. A compiler or toolchain problem does not, and must never stop training: eager from now on.
        try:
            pg_loss, stats = abc_loss_step(*args)
        except Exception as eager_error:
            logger.debug("the compiled abc_grpo step failed first", exc_info=error)
            raise eager_error from None
        global _compiled_step
        _compiled_step = False
        warnings.warn(f"{COMPILE_ENV}=1: torch.compile failed ({error!r}); using the eager path", stacklevel=2)

    neg_log_ratio_sum, valid, *counts, not_binary, bad_log_prob, bad_old_log_prob = stats.tolist()  # one transfer
    for name, tensor, bad in (("log_prob", log_prob, bad_log_prob), ("old_log_prob", old_log_prob, bad_old_log_prob)):
        if bad:
            _refuse_impossible_log_probs(name, tensor, response_mask, int(bad))
    _check_global_counts(config.global_batch_info, valid)
    if not_binary:
        raise ValueError(
            f"response_mask holds {int(not_binary)} values other than 0 and 1; abc_grpo needs a bool or 0/1 mask "
            "of valid tokens (a weighting mask would also weight the quadrant counts): pass per-token weights as "
            "rollout_is_weights instead"
        )

    def share(count: float) -> float:
        return count / valid if valid > 0 else 0.0

    return pg_loss, {
        "actor/pg_clipfrac": share(sum(counts)),
        "actor/ppo_kl": share(neg_log_ratio_sum),
        "actor/pg_clipfrac_lower": share(counts[3]),
        **{f"actor/abc_clipfrac_{q}": share(count) for q, count in zip(QUADRANTS, counts, strict=True)},
        **{f"actor/abc_clip_tokens_{q}": count for q, count in zip(QUADRANTS, counts, strict=True)},
        "actor/abc_valid_tokens": valid,
        POSITIVE_LOG_PROBS_METRIC: bad_log_prob + bad_old_log_prob,  # any infinite one was refused above
        **dict(zip(BAND_METRICS, args[5], strict=True)),  # plain floats from the config: no transfer
    }


def _prompt_uids(index: Any, batch_size: int) -> np.ndarray:
    """The prompt uid of each response as a 1-D object array, checked: one hashable uid per response."""
    if index is None:
        raise ValueError(
            "the abc_grpo advantage estimator needs the prompt uid of each response (verl's `uid` field) to form "
            "groups, and got index=None"
        )
    if isinstance(index, (np.ndarray, torch.Tensor)) and index.ndim != 1:
        raise ValueError(f"index must be 1-D (one prompt uid per response), got shape {tuple(index.shape)}")
    if isinstance(index, torch.Tensor):  # its elements would be 0-d tensors, each hashing by identity: one group each
        index = index.tolist()
    for position, uid in enumerate(index):
        if not isinstance(uid, Hashable):
            raise ValueError(f"index[{position}]={uid!r} is a {type(uid).__name__}: prompt uids must be hashable")
        if isinstance(uid, (float, np.floating)) and math.isnan(uid):
            raise ValueError(f"index[{position}] is NaN: a NaN uid equals no other, so it cannot group responses")
    if len(index) != batch_size:
        raise ValueError(
            f"index has {len(index)} uids but token_level_rewards has {batch_size} responses: the abc_grpo advantage "
            "estimator needs one prompt uid per response"
        )
    uids = np.empty(batch_size, dtype=object)
    uids[:] = list(index)  # element by element: tuple uids stay tuples instead of becoming a 2-D array
    return uids


@register_adv_est(NAME)
def compute_abc_grpo_outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: np.ndarray | None = None,
    config: Any | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-relative outcome advantage for ABC-GRPO (paper Eq. 3): verl's ``grpo``, behind checks of its inputs.

    The paper's advantage is GRPO's, so verl's own function computes it. verl's trainer calls custom estimators with
    only ``token_level_rewards``, ``response_mask``, ``index`` and ``config`` (the ``algorithm`` node), so
    ``norm_adv_by_std_in_grpo`` is read from ``config`` here: true (default) divides by the group std as verl's
    ``grpo``; false keeps the paper's plain R - mean(R). Inputs ``grpo`` accepts give its numbers (uids of any
    hashable type, mixed types and None included); integer rewards are taken as floats (``grpo`` fails on them inside
    torch). Refused with an error naming the argument: rewards that are not (bs, response_length), a mask of another
    shape, an index that is not one uid per response, and a batch in which every group is a single response (where
    ``grpo`` would return raw rewards: the run needs rollout.n >= 2).

    Args:
        token_level_rewards: `(torch.Tensor)` shape (bs, response_length); the outcome reward is its row sum.
        response_mask: `(torch.Tensor)` shape (bs, response_length).
        index: `(np.ndarray | list)` shape (bs,), the prompt uid of each response: responses sharing a uid form
            a group.
        config: `(AlgoConfig | DictConfig | None)` the ``algorithm`` config.

    Returns:
        advantages: `(torch.Tensor)` shape (bs, response_length), the group advantage broadcast over the mask.
        returns: `(torch.Tensor)` shape (bs, response_length), the same tensor (as verl's ``grpo``).
    """
    if token_level_rewards.dim() != 2:
        raise ValueError(
            f"token_level_rewards must have shape (bs, response_length), got {tuple(token_level_rewards.shape)}"
        )
    if response_mask.shape != token_level_rewards.shape:
        raise ValueError(
            f"response_mask has shape {tuple(response_mask.shape)} but token_level_rewards has "
            f"{tuple(token_level_rewards.shape)}"
        )
    uids = _prompt_uids(index, token_level_rewards.shape[0])
    if len(uids) and len(set(uids)) == len(uids):
        raise ValueError(
            f"abc_grpo advantage: every one of the {len(uids)} groups in this batch has a single response, so "
            "there is no group baseline. Sample several responses per prompt: "
            "actor_rollout_ref.rollout.n must be >= 2."
        )
    norm_by_std = config.get("norm_adv_by_std_in_grpo", True) if config is not None else True
    if not isinstance(norm_by_std, bool | np.bool_):  # bool('false') is True: a string would silently mean true
        raise ValueError(f"algorithm.norm_adv_by_std_in_grpo={norm_by_std!r} is a {type(norm_by_std).__name__}: "
                         "it must be true or false (a yaml or command-line boolean, not a quoted string)")
    singletons = sum(count == 1 for count in Counter(uids.tolist()).values())
    if singletons:  # verl's grpo takes mean 0 and std 1 for a group of one: its raw reward is its advantage
        logger.warning("abc_grpo advantage: %d of %d responses are the only response to their prompt, so their "
                       "advantage is their raw reward (no group baseline), as in verl's grpo; check "
                       "actor_rollout_ref.rollout.n and whether responses were dropped (filtering, failed rollouts)",
                       singletons, len(uids))
    rewards = token_level_rewards if token_level_rewards.is_floating_point() else token_level_rewards.float()
    return core_algos.compute_grpo_outcome_advantage(
        token_level_rewards=rewards, response_mask=response_mask, index=uids, epsilon=GRPO_STD_EPSILON,
        norm_adv_by_std_in_grpo=norm_by_std,
    )


# verl's vanilla loss with the quadrant metrics, for baselines: registered wherever abc_grpo is
from abc_grpo_verl import baseline  # noqa: E402, F401
