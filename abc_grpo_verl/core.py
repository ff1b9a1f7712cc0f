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
"""The ABC-GRPO math on plain tensors: no verl import here.

ABC-GRPO (Liu & Chen, arXiv 2601.03895, Eq. 5-8 and Algorithm 1) replaces GRPO's pessimistic
``min(r*A, clip(r)*A)`` with an unconditional clip whose band depends on the sign of the advantage:

    A > 0:   r~ = clip(r, 1 - eps2, 1 + eps1)        (Q1 above the band, Q2 below it)
    A <= 0:  r~ = clip(r, 1 - eps4, 1 + eps3)        (Q4 above the band, Q3 below it)
    loss_t = -A * r~

There is no ``min`` with ``r*A``: a token outside its band keeps a constant loss value and gets exactly
zero gradient, whatever the sign of A.
"""

from typing import NamedTuple

import torch

# Same limit as verl's vanilla loss: exp(20) ~ 4.9e8 already saturates every finite band,
# and exp of anything much larger overflows fp16/bf16.
LOG_RATIO_LIMIT = 20.0

RATIO_LEVELS = ("token", "sequence")

# Row order of the statistics vector returned by `abc_surrogate`; one vector, so one host transfer.
STAT_NAMES = ("valid_tokens", "neg_log_ratio_sum", "q1", "q2", "q3", "q4")


class ClipBounds(NamedTuple):
    """The four clip widths of ABC-GRPO, all > 0; the band for a token is [1 - low, 1 + high].

    Attributes:
        pos_high: eps1, upper width when A > 0 (tokens above it are Q1). May be ``inf``.
        pos_low: eps2, lower width when A > 0 (tokens below it are Q2), in (0, 1].
        neg_high: eps3, upper width when A <= 0 (tokens above it are Q4). May be ``inf``.
        neg_low: eps4, lower width when A <= 0 (tokens below it are Q3), in (0, 1].
    """

    pos_high: float
    pos_low: float
    neg_high: float
    neg_low: float


def _surrogate_terms(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    valid: torch.Tensor,
    bounds: ClipBounds,
    sequence_level: bool,
    rollout_is_weights: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ABC-GRPO step as plain elementwise math (no autograd): the loss, its gradient factor, statistics.

    Returns (loss_mat, grad_factor, stats) with grad_factor = d loss_mat / d log_prob per token, so backward is
    one multiply. Computed in at least fp32: in bf16 the band edges themselves round (1.2 -> 1.203125), which
    would move tokens across the band. Temporaries are updated in place so that, with bf16 inputs, the fp32
    working set stays at about three token-sized tensors.
    """
    dtype = torch.promote_types(log_prob.dtype, torch.float32)
    log_ratio = log_prob.to(dtype, copy=True).sub_(old_log_prob)
    # The +-20 limit is a clamp, so tokens beyond it get no gradient (in token mode; the sequence ratio's
    # gradient path does not go through the token clamp).
    beyond_limit = None if sequence_level else (log_ratio > LOG_RATIO_LIMIT) | (log_ratio < -LOG_RATIO_LIMIT)
    log_ratio.clamp_(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
    neg_log_ratio_sum = -torch.where(valid, log_ratio, 0.0).sum()
    if sequence_level:
        # GSPO-style length-normalised sequence ratio s_i = exp(mean_t log(pi/pi_old)), shared by every token of
        # the sequence; each token's gradient goes through its own log-prob with factor s_i (GSPO's token form),
        # so seq-mean-token-mean aggregation gives GSPO's sequence gradient.
        lengths = valid.sum(-1, keepdim=True).clamp(min=1).to(dtype)
        seq_log_ratio = torch.where(valid, log_ratio, 0.0).sum(-1, keepdim=True).div_(lengths)
        # one full-size tensor, so the rest of the step is the same in both modes
        ratio = seq_log_ratio.clamp_(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT).exp_().expand(log_ratio.shape).clone()
        del log_ratio
    else:
        ratio = log_ratio.exp_()
    positive = advantages > 0
    if bounds.pos_low == bounds.neg_low and bounds.pos_high == bounds.neg_high:
        # One band for both signs (the paper's setting): scalar edges, no per-token bound tensors.
        lower, upper = 1.0 - bounds.pos_low, 1.0 + bounds.pos_high
    else:
        edge = ratio.new_tensor  # 0-dim edges in the ratio's dtype, so the comparison is exact
        lower = torch.where(positive, edge(1.0 - bounds.pos_low), edge(1.0 - bounds.neg_low))
        upper = torch.where(positive, edge(1.0 + bounds.pos_high), edge(1.0 + bounds.neg_high))
    above, below = ratio > upper, ratio < lower
    loss_mat = torch.clamp(ratio, lower, upper).mul_(advantages).neg_()
    # Outside the band the clamp is flat: exactly zero gradient. At a band edge the gradient passes, as torch's
    # clamp passes it. grad_factor reuses the ratio's storage.
    grad_factor = ratio.mul_(advantages)
    frozen = above | below if beyond_limit is None else above | below | beyond_limit
    grad_factor.neg_().masked_fill_(frozen, 0.0)
    if rollout_is_weights is not None:
        loss_mat.mul_(rollout_is_weights)
        grad_factor.mul_(rollout_is_weights)
    valid_pos = valid & positive
    valid_neg = valid & (advantages < 0)
    def count(mask: torch.Tensor) -> torch.Tensor:
        # int64 sum carried as float64: exact far beyond fp32's 2**24 tokens per call. (sum(dtype=float64) would
        # widen the mask to 8 bytes per token first.) Each mask is a temporary, freed once counted.
        return mask.sum().to(torch.float64)

    stats = torch.stack(
        [
            count(valid),
            neg_log_ratio_sum.to(torch.float64),
            count(valid_pos & above),
            count(valid_pos & below),
            count(valid_neg & below),
            count(valid_neg & above),
        ]
    )
    return loss_mat, grad_factor, stats


class _BandClippedSurrogate(torch.autograd.Function):
    """Autograd for the ABC surrogate: saves one gradient-factor tensor instead of a chain of intermediates."""

    @staticmethod
    def forward(ctx, log_prob, old_log_prob, advantages, valid, bounds, sequence_level, rollout_is_weights):
        loss_mat, grad_factor, stats = _surrogate_terms(
            log_prob, old_log_prob, advantages, valid, bounds, sequence_level, rollout_is_weights
        )
        ctx.save_for_backward(grad_factor)
        ctx.log_prob_dtype = log_prob.dtype
        ctx.mark_non_differentiable(stats)
        return loss_mat, stats

    @staticmethod
    def backward(ctx, grad_loss_mat, grad_stats):
        (grad_factor,) = ctx.saved_tensors
        return (grad_loss_mat * grad_factor).to(ctx.log_prob_dtype), None, None, None, None, None, None


def abc_surrogate(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    bounds: ClipBounds,
    ratio_level: str = "token",
    rollout_is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token ABC-GRPO loss and the clip statistics, before aggregation.

    Args:
        log_prob: `(torch.Tensor)` shape (bs, response_length), log pi_theta of the sampled tokens.
        old_log_prob: `(torch.Tensor)` shape (bs, response_length), log pi_old of the same tokens.
        advantages: `(torch.Tensor)` shape (bs, response_length), A-hat (broadcast per sequence for GRPO).
        response_mask: `(torch.Tensor)` shape (bs, response_length), bool or 0/1: valid response tokens.
        bounds: `(ClipBounds)` eps1..eps4.
        ratio_level: `(str)` "token" (the paper) or "sequence" (GSPO-style length-normalised ratio; every
            token of a sequence shares one ratio, so a whole sequence is inside or outside its band).
        rollout_is_weights: `(torch.Tensor | None)` shape (bs, response_length), detached off-policy
            correction weights multiplied into the loss.

    Returns:
        loss_mat: `(torch.Tensor)` shape (bs, response_length), -A * clip(r, lo(A), hi(A)) [* weights],
            in at least fp32. Not masked: aggregate it with the response mask.
        stats: `(torch.Tensor)` shape (len(STAT_NAMES),), float64 on the input device: the number of valid
            tokens, the sum of -log r over them (for ppo_kl), and the Q1..Q4 token counts
            (Q1 A>0 & r>1+eps1, Q2 A>0 & r<1-eps2, Q3 A<0 & r<1-eps4, Q4 A<0 & r>1+eps3; A == 0 is in none).
    """
    if ratio_level not in RATIO_LEVELS:
        raise ValueError(f"ratio_level must be one of {RATIO_LEVELS}, got {ratio_level!r}")
    return _BandClippedSurrogate.apply(
        log_prob, old_log_prob, advantages, response_mask.bool(), bounds, ratio_level == "sequence",
        rollout_is_weights,
    )


def group_relative_advantage(
    scores: torch.Tensor, group_ids: torch.Tensor, norm_by_std: bool = True, epsilon: float = 1e-6
) -> torch.Tensor:
    """Group-relative outcome advantage (paper Eq. 3, Algorithm 1 line 6), optionally std-normalised.

    A_i = R_i - mean_{j in g(i)} R_j, divided by (std_g + epsilon) when `norm_by_std` (std is the unbiased
    sample std, as torch.std). Groups of a single response have no baseline: following verl's `grpo`, they
    get mean 0 and std 1, so a batch that mixes them gives verl's numbers.

    Args:
        scores: `(torch.Tensor)` shape (bs,), the outcome reward R_i of each response.
        group_ids: `(torch.Tensor)` shape (bs,), int64 group id in [0, num_groups) of each response.
        norm_by_std: `(bool)` divide by the group std (GRPO) or not (Dr.GRPO, and the paper's Eq. 3).
        epsilon: `(float)` added to the std before dividing.

    Returns:
        `(torch.Tensor)` shape (bs,), the advantage of each response.

    Raises:
        ValueError: if every group holds a single response: there is no group baseline at all.
    """
    num_groups = int(group_ids.max()) + 1 if group_ids.numel() else 0
    counts = torch.bincount(group_ids, minlength=num_groups)
    if num_groups and bool((counts <= 1).all()):
        raise ValueError(
            f"abc_grpo advantage: every one of the {num_groups} groups in this batch has a single response, so "
            "there is no group baseline. Sample several responses per prompt: "
            "actor_rollout_ref.rollout.n must be >= 2."
        )
    counts_f = counts.to(scores.dtype)
    group_sum = torch.zeros(num_groups, dtype=scores.dtype, device=scores.device).index_add_(0, group_ids, scores)
    mean = torch.where(counts > 1, group_sum / counts_f, 0.0)
    centered = scores - mean[group_ids]
    if not norm_by_std:
        return centered
    squares = torch.zeros_like(group_sum).index_add_(0, group_ids, centered * centered)
    std = torch.where(counts > 1, torch.sqrt(squares / (counts_f - 1).clamp(min=1.0)), 1.0)
    return centered / (std[group_ids] + epsilon)
