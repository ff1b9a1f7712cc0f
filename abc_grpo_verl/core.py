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
"""The ABC-GRPO math on plain tensors, read top to bottom next to the paper. No verl import here.

ABC-GRPO (Liu & Chen, arXiv 2601.03895, Eq. 5-8) drops GRPO's pessimistic ``min(r*A, clip(r)*A)`` and clips the
ratio into a band chosen by the sign of the advantage:

    A > 0:   loss_t = -A * clip(r, 1 - eps2, 1 + eps1)     above the band: Q1, below it: Q2
    A <= 0:  loss_t = -A * clip(r, 1 - eps4, 1 + eps3)     above the band: Q4, below it: Q3

A token outside its band keeps a constant loss value and gets exactly zero gradient, whatever the sign of A.
Aggregation over tokens is verl's ``agg_loss``, applied by the verl glue (``algos.py``).
"""

from typing import NamedTuple

import torch

# As verl's vanilla loss: exp(20) ~ 4.9e8 saturates every finite band, and larger log-ratios overflow in exp.
LOG_RATIO_LIMIT = 20.0
RATIO_LEVELS = ("token", "sequence")
QUADRANTS = ("q1", "q2", "q3", "q4")


class ClipBounds(NamedTuple):
    """The four clip widths of ABC-GRPO; a token's band is [1 - low, 1 + high].

    Attributes:
        pos_high: eps1, upper width when A > 0 (tokens above it are Q1), in (0, inf].
        pos_low: eps2, lower width when A > 0 (tokens below it are Q2), in (0, 1].
        neg_high: eps3, upper width when A <= 0 (tokens above it are Q4), in (0, inf].
        neg_low: eps4, lower width when A <= 0 (tokens below it are Q3), in (0, 1].
    """

    pos_high: float
    pos_low: float
    neg_high: float
    neg_low: float


class ABCTerms(NamedTuple):
    """What `abc_token_loss` returns, all of shape (bs, response_length), 0 / False on masked tokens.

    Attributes:
        loss_mat: -A * clip(r, lo(A), hi(A)), the per-token loss, in at least fp32.
        log_ratio: log(pi / pi_old) clamped to +-LOG_RATIO_LIMIT (for ppo_kl), in at least fp32.
        quadrants: (4, bs, response_length) bool, the tokens in Q1, Q2, Q3, Q4 (A = 0 is in none).
    """

    loss_mat: torch.Tensor
    log_ratio: torch.Tensor
    quadrants: torch.Tensor


def abc_token_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    bounds: ClipBounds,
    ratio_level: str = "token",
) -> ABCTerms:
    """The per-token ABC-GRPO loss (paper Eq. 5-8) and the quadrant of every token.

    Args:
        log_prob: `(torch.Tensor)` shape (bs, response_length), log pi_theta of the sampled tokens.
        old_log_prob: `(torch.Tensor)` shape (bs, response_length), log pi_old of the same tokens.
        advantages: `(torch.Tensor)` shape (bs, response_length), A-hat (one value per sequence for GRPO).
        response_mask: `(torch.Tensor)` shape (bs, response_length), bool (or 0/1): the valid response tokens.
        bounds: `(ClipBounds)` eps1..eps4.
        ratio_level: `(str)` "token" (the paper: one ratio per token) or "sequence" (GSPO's length-normalised
            sequence ratio s_i = exp(mean_t log r_it): a whole sequence is inside or outside its band).

    Returns:
        `(ABCTerms)` the per-token loss, the clamped log-ratio and the four quadrant masks.
    """
    mask = response_mask.bool()
    # At least fp32: in bf16 the band edges themselves round (1.2 -> 1.203125) and exp overflows fp16.
    dtype = torch.promote_types(log_prob.dtype, torch.float32)
    # Padding may hold anything (nan, inf): select it away before any arithmetic, as verl's masked_sum does, so it
    # reaches neither the loss nor (through `where`, which routes no gradient to the unselected side) the gradient.
    log_prob = torch.where(mask, log_prob.to(dtype), 0.0)
    old_log_prob = torch.where(mask, old_log_prob.to(dtype), 0.0)
    advantages = torch.where(mask, advantages.to(dtype), 0.0)
    log_ratio = torch.clamp(log_prob - old_log_prob, -LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)

    if ratio_level == "token":
        ratio = torch.exp(log_ratio)  # r_t = pi_theta / pi_old
    else:
        # GSPO's token form: the value is the sequence's s_i, the gradient flows through each token's own log-prob
        # (s_it = sg[s_i] * pi_t / sg[pi_t]), so seq-mean-token-mean aggregation gives GSPO's sequence gradient.
        tokens = mask.sum(-1, keepdim=True).clamp(min=1)
        seq_log_ratio = (log_ratio.sum(-1, keepdim=True) / tokens).clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
        ratio = torch.exp(log_prob - log_prob.detach() + seq_log_ratio.detach())

    # Each token's band, chosen by the sign of its advantage: [1 - eps2, 1 + eps1] if A > 0, else [1 - eps4, 1 + eps3].
    positive = advantages > 0
    lower = torch.where(positive, ratio.new_tensor(1.0 - bounds.pos_low), ratio.new_tensor(1.0 - bounds.neg_low))
    upper = torch.where(positive, ratio.new_tensor(1.0 + bounds.pos_high), ratio.new_tensor(1.0 + bounds.neg_high))
    # No min with r * A: outside the band clip(r) is a constant, so the token's gradient is exactly 0.
    loss_mat = -advantages * torch.clamp(ratio, lower, upper)

    # A token on an edge is inside, as clamp passes its gradient there. Masked tokens have A = 0: in no quadrant.
    negative = advantages < 0
    above, below = ratio > upper, ratio < lower
    quadrants = torch.stack([
        positive & above,  # Q1: A > 0, r > 1 + eps1 (PPO clips this too)
        positive & below,  # Q2: A > 0, r < 1 - eps2 (PPO never clips it: the paper's blind spot)
        negative & below,  # Q3: A < 0, r < 1 - eps4 (PPO clips this too)
        negative & above,  # Q4: A < 0, r > 1 + eps3 (unbounded in PPO; verl's dual clip bounds it at c)
    ])
    return ABCTerms(loss_mat=loss_mat, log_ratio=log_ratio, quadrants=quadrants)


def group_relative_advantage(
    scores: torch.Tensor, group_ids: torch.Tensor, norm_by_std: bool = True, epsilon: float = 1e-6
) -> torch.Tensor:
    """Group-relative outcome advantage (paper Eq. 3, Algorithm 1 line 6), optionally std-normalised.

    A_i = R_i - mean_{j in g(i)} R_j, divided by (std_g + epsilon) when `norm_by_std` (std is the unbiased
    sample std, as torch.std). Groups of a single response have no baseline: following verl's `grpo`, they
    get mean 0 and std 1, so a batch that mixes them gives verl's numbers.

    Args:
        scores: `(torch.Tensor)` shape (bs,), floating point, the outcome reward R_i of each response.
        group_ids: `(torch.Tensor)` shape (bs,), int64 group id in [0, num_groups) of each response.
        norm_by_std: `(bool)` divide by the group std (GRPO) or not (Dr.GRPO, and the paper's Eq. 3).
        epsilon: `(float)` added to the std before dividing.

    Returns:
        `(torch.Tensor)` shape (bs,), the advantage of each response.
    """
    num_groups = int(group_ids.max()) + 1 if group_ids.numel() else 0
    counts = torch.bincount(group_ids, minlength=num_groups)
    counts_f = counts.to(scores.dtype)
    group_sum = torch.zeros(num_groups, dtype=scores.dtype, device=scores.device).index_add_(0, group_ids, scores)
    mean = torch.where(counts > 1, group_sum / counts_f, 0.0)
    centered = scores - mean[group_ids]
    if not norm_by_std:
        return centered
    squares = torch.zeros_like(group_sum).index_add_(0, group_ids, centered * centered)
    std = torch.where(counts > 1, torch.sqrt(squares / (counts_f - 1).clamp(min=1.0)), 1.0)
    return centered / (std[group_ids] + epsilon)
