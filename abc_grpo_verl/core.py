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

from __future__ import annotations

from typing import NamedTuple

import torch

# As verl's vanilla loss: exp(20) ~ 4.9e8 saturates every finite band, and larger log-ratios overflow in exp.
LOG_RATIO_LIMIT = 20.0
RATIO_LEVELS = ("token", "sequence")
QUADRANTS = ("q1", "q2", "q3", "q4")


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
        log_prob, old_log_prob: `(torch.Tensor)` shape (bs, response_length), log pi_theta and log pi_old.
        advantages: `(torch.Tensor)` shape (bs, response_length), A-hat (one value per sequence for GRPO).
        response_mask: `(torch.Tensor)` shape (bs, response_length), bool (or 0/1): the valid response tokens.
        bounds: `(ClipBounds)` eps1..eps4.
        ratio_level: `(str)` "token" (the paper) or "sequence" (GSPO's s_i = exp(mean_t log r_it)).

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
    token_log_ratio = log_prob - old_log_prob
    # Beyond the limit the clamp is flat: such a token gets no gradient, at either ratio level.
    log_ratio = torch.clamp(token_log_ratio, -LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)

    if ratio_level == "token":
        ratio = torch.exp(log_ratio)  # r_t = pi_theta / pi_old
    else:
        # GSPO's token form: the value is the sequence's s_i = exp(mean_t log r_t), the gradient flows through each
        # token's own log-prob (s_it = sg[s_i] * pi_t / sg[pi_t]): seq-mean-token-mean gives GSPO's gradient.
        seq_log_ratio = token_log_ratio.sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1)
        ratio = torch.exp(torch.clamp(log_prob - log_prob.detach() + seq_log_ratio.detach(),
                                      -LOG_RATIO_LIMIT, LOG_RATIO_LIMIT))

    # Each token's band, chosen by the sign of its advantage: [1 - eps2, 1 + eps1] if A > 0, else [1 - eps4, 1 + eps3]
    # (two numbers when both signs share one band, as in the paper's setting: no per-token edges to store then).
    positive = advantages > 0
    if (bounds.pos_low, bounds.pos_high) == (bounds.neg_low, bounds.neg_high):
        lower, upper = ratio.new_tensor(1.0 - bounds.pos_low), ratio.new_tensor(1.0 + bounds.pos_high)
    else:
        lower = torch.where(positive, ratio.new_tensor(1.0 - bounds.pos_low), ratio.new_tensor(1.0 - bounds.neg_low))
        upper = torch.where(positive, ratio.new_tensor(1.0 + bounds.pos_high), ratio.new_tensor(1.0 + bounds.neg_high))
    # No min with r * A: outside the band clip(r) is a constant, so the token's gradient is exactly 0.
    loss_mat = -advantages * torch.clamp(ratio, lower, upper)

    # A token on an edge is inside, as clamp passes its gradient there. Masked tokens have A = 0: in no quadrant.
    negative = advantages < 0
    above, below = ratio > upper, ratio < lower
    quadrants = (
        positive & above,  # Q1: A > 0, r > 1 + eps1 (PPO clips this too)
        positive & below,  # Q2: A > 0, r < 1 - eps2 (PPO never clips it: the paper's blind spot)
        negative & below,  # Q3: A < 0, r < 1 - eps4 (PPO clips this too)
        negative & above,  # Q4: A < 0, r > 1 + eps3 (unbounded in PPO; verl's dual clip bounds it at c)
    )
    return ABCTerms(loss_mat=loss_mat, log_ratio=log_ratio, quadrants=quadrants)


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
        quadrants: four (bs, response_length) bool masks, the tokens in Q1, Q2, Q3, Q4 (A = 0 is in none).
    """

    loss_mat: torch.Tensor
    log_ratio: torch.Tensor
    quadrants: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
