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

import math
from typing import NamedTuple

import torch

# Same limit as verl's vanilla loss: exp(20) ~ 4.9e8 already saturates every finite band,
# and exp of anything much larger overflows fp16/bf16.
LOG_RATIO_LIMIT = 20.0
# An upper band edge no ratio can reach (ratios stop at exp(LOG_RATIO_LIMIT)): it stands in for an infinite width, so
# that edges can be blended arithmetically (inf * 0 would be nan) without changing which tokens are inside.
UNREACHABLE_RATIO = math.exp(LOG_RATIO_LIMIT + 1)

RATIO_LEVELS = ("token", "sequence")
# verl's agg_loss modes, which `abc_policy_loss` reproduces (see `_aggregate`).
AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-sum-norm", "seq-mean-token-mean")

# Row order of the statistics vector returned by `abc_policy_loss` (float64, one vector: one host transfer): the
# valid-token count, the sum of -log r over valid tokens, and four exact sums over the tokens outside their band
# with A != 0, from which `quadrant_counts` recovers Q1..Q4 on the host (side: +1 above the band, -1 below).
STAT_NAMES = ("valid_tokens", "neg_log_ratio_sum", "frozen", "frozen_x_side", "frozen_x_sign", "frozen_x_side_x_sign")
# (band side, sign of A) of each quadrant
QUADRANTS = {"q1": (1, 1), "q2": (-1, 1), "q3": (-1, -1), "q4": (1, -1)}


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


class Normalisers(NamedTuple):
    """What verl's ``agg_loss`` divides by, as verl's ``config.global_batch_info`` carries it (ints or 0-dim tensors).

    Attributes:
        dp_size: data-parallel world size; the loss is multiplied by it (DDP/FSDP average gradients over ranks).
        batch_num_tokens: valid tokens in the global batch (token-mean). None: this micro-batch's, if dp_size is 1.
        global_batch_size: non-empty sequences in the global batch (seq-mean-*). None: this micro-batch's, likewise.
        loss_scale_factor: divisor of seq-mean-token-sum-norm. None: the response length.
    """

    dp_size: int = 1
    batch_num_tokens: int | torch.Tensor | None = None
    global_batch_size: int | torch.Tensor | None = None
    loss_scale_factor: int | float | None = None


def _per_token_edges(positive: torch.Tensor, pos_edge: float, neg_edge: float, out: torch.Tensor) -> torch.Tensor:
    """The band edge of each token into `out`: pos_edge where positive is 1 (A > 0), neg_edge where it is 0.

    neg_edge - p * neg_edge + p * pos_edge with p in {0, 1}: every step is exact (x * 1, x * 0, x - x, x + 0), so each
    token gets exactly the edge a select would give, without a (slow on CPU) torch.where.
    """
    return torch.mul(positive, -neg_edge, out=out).add_(neg_edge).add_(positive, alpha=pos_edge)


def _exact_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum(a * b) for same-size tensors of -1, 0 and 1, exactly: a 0-dim tensor (float64 for very long inputs).

    A float dot product of such values is exact while every partial sum is an integer below 2 / eps (2**24 in
    fp32), so longer inputs are summed in chunks of that many elements and the chunk results added in float64.
    """
    a, b = a.reshape(-1), b.reshape(-1)  # a view for the step's own buffers; a copy only for a transposed layout
    chunk = int(2 / torch.finfo(a.dtype).eps)
    if a.numel() <= chunk:
        return torch.dot(a, b)
    partial = [torch.dot(x, y) for x, y in zip(a.split(chunk), b.split(chunk), strict=True)]
    return torch.stack(partial).to(torch.float64).sum()


def quadrant_counts(stats: dict[str, float]) -> dict[str, float]:
    """Q1..Q4 token counts from the four sums of the statistics vector (exact: small integers in float64).

    Over the frozen tokens with A != 0, (side, sign) is one of the four quadrants, so for each quadrant
    4 * count = frozen + side * frozen_x_side + sign * frozen_x_sign + side * sign * frozen_x_side_x_sign
    (every other quadrant cancels out of that sum).
    """
    return {
        name: (stats["frozen"] + side * stats["frozen_x_side"] + sign * stats["frozen_x_sign"]
               + side * sign * stats["frozen_x_side_x_sign"]) / 4
        for name, (side, sign) in QUADRANTS.items()
    }


def _aggregate(
    terms: torch.Tensor, row_tokens: torch.Tensor, mode: str, normalisers: Normalisers
) -> tuple[torch.Tensor, float | torch.Tensor, torch.Tensor | None]:
    """verl's ``agg_loss`` of the per-token loss -terms, with its derivative.

    Every mode is linear in the per-token loss: d loss / d terms[i, t] = -coefficient * row_weight[i], with one
    global coefficient (dp_size over the normaliser) and, for seq-mean-token-mean only, a per-sequence weight
    1 / (its token count + 1e-8). The loss is computed in verl's order of operations, so it rounds as verl's does.
    One deliberate difference: without global normalisers (dp_size 1) an all-masked micro-batch gives 0, not verl's
    0 / 0 = nan.

    Args:
        terms: `(torch.Tensor)` shape (bs, response_length), clip(r) * A * mask [* weights]: minus the token loss,
            already 0 on masked tokens.
        row_tokens: `(torch.Tensor)` shape (bs, 1), the number of valid tokens of each sequence, in terms' dtype.
        mode: `(str)` one of `AGG_MODES`.
        normalisers: `(Normalisers)` verl's global batch info.

    Returns:
        (loss, coefficient, row_weight of shape (bs, 1) or None).

    Raises:
        ValueError: for an unknown mode, or a missing normaliser when dp_size > 1 (each rank would divide by its own
            count, so the ranks' gradients would no longer average to the global one).
    """
    dp_size, batch_num_tokens, global_batch_size, loss_scale_factor = normalisers

    def given(value):
        # a 0-dim tensor normaliser in another dtype (int64, float64) must not change the loss dtype
        return value.to(terms.dtype) if isinstance(value, torch.Tensor) else value

    if mode not in AGG_MODES:
        raise ValueError(f"loss_agg_mode={mode!r} is not supported by abc_grpo: must be one of {AGG_MODES}")
    if mode == "token-sum":
        return -(terms.sum() * dp_size), dp_size, None
    if mode == "token-mean":
        if batch_num_tokens is None:
            if dp_size > 1:
                raise ValueError("loss_agg_mode='token-mean' with dp_size > 1 needs global_batch_info['batch_num_tokens']")
            # This micro-batch's own count, floored at 1: an all-masked micro-batch gives loss 0 rather than 0/0.
            batch_num_tokens = row_tokens.sum().clamp(min=1.0)
        batch_num_tokens = given(batch_num_tokens)
        return -(terms.sum() / batch_num_tokens * dp_size), dp_size / batch_num_tokens, None

    if global_batch_size is None:
        if dp_size > 1:
            raise ValueError(f"loss_agg_mode={mode!r} with dp_size > 1 needs global_batch_info['global_batch_size']")
        global_batch_size = (row_tokens > 0).sum().clamp(min=1)
    global_batch_size = given(global_batch_size)
    coefficient = dp_size / global_batch_size
    row_sums = terms.sum(-1, keepdim=True)
    if mode == "seq-mean-token-mean":
        # verl adds 1e-8 to an integer count, which gives a float32 count; the same rounding here
        row_divisor = (row_tokens.to(torch.float32) + 1e-8).to(terms.dtype)
        loss = row_sums.div_(row_divisor).sum() / global_batch_size * dp_size
        return -loss, coefficient, 1.0 / row_divisor
    loss = row_sums.sum() / global_batch_size * dp_size
    if mode == "seq-mean-token-sum":
        return -loss, coefficient, None
    horizon = loss_scale_factor if loss_scale_factor is not None else terms.shape[-1]  # seq-mean-token-sum-norm
    return -(loss / horizon), coefficient / horizon, None


def _limit_can_bind(bounds: ClipBounds) -> bool:
    """Whether some band reaches beyond the ratios exp(+-LOG_RATIO_LIMIT) that the log-ratio clamp allows.

    Tokens whose log-ratio is beyond the limit get no gradient through the clamp (as in verl's vanilla). With finite
    widths such a token is also outside its band; only a band wider than exp(+-20) (an infinite high width, a low
    width of 1) can hold it, and only then must the clamp be tracked on its own. Factor 2: margin for rounding.
    """
    top = 1.0 + max(bounds.pos_high, bounds.neg_high)
    bottom = 1.0 - max(bounds.pos_low, bounds.neg_low)
    return top >= math.exp(LOG_RATIO_LIMIT) / 2 or bottom <= 2 * math.exp(-LOG_RATIO_LIMIT)


def _forward_terms(log_prob, old_log_prob, advantages, response_mask, rollout_is_weights, bounds, sequence_level,
                   loss_agg_mode, normalisers):
    """The ABC-GRPO step as plain elementwise arithmetic (no autograd): loss, gradient, statistics.

    Returns (pg_loss, grad_sum, coefficient, row_weight, stats): pg_loss is the aggregated loss; the gradient of
    pg_loss with respect to log_prob is -coefficient * row_weight * grad_sum (see `_aggregate`).

    Built to be fast on every device, CPU included, where each fresh token-sized tensor costs page faults and
    boolean ops and torch.where are slow: only float arithmetic in the compute dtype (the mask is multiplied in, the
    band test is the sign of r - clip(r), counts are exact dot products of -1/0/+1 tensors), and four token-sized
    buffers, each reused in place through the step (their names change with their contents; asymmetric bands and
    bands past the log-ratio limit need one more). Computed in at least fp32: in bf16 the band edges themselves
    round (1.2 -> 1.203125), which would move tokens across the band.
    Every input must be finite at masked positions too (verl's are: it pads with 0), since the mask is multiplied
    in: a nan or inf there would reach the loss, where verl's agg_loss selects it away.
    """
    dtype = torch.promote_types(log_prob.dtype, torch.float32)
    # buffer 1: the log-ratio, then the ratio, then the gradient. In place after a first copy; a bf16 old_log_prob is
    # widened element by element, so the difference is taken in fp32 (never rounded to bf16 first).
    log_ratio = torch.sub(log_prob, old_log_prob) if log_prob.dtype == old_log_prob.dtype == dtype \
        else log_prob.to(dtype, copy=True).sub_(old_log_prob)
    beyond_limit = None
    if not sequence_level and _limit_can_bind(bounds):
        clamped = log_ratio.clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)  # the one extra buffer, only for such bands
        beyond_limit = log_ratio.sub_(clamped).abs_().sign_()  # 1 where the clamp moved the log-ratio
        log_ratio = clamped
    else:
        log_ratio.clamp_(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
    # buffer 2: the mask, then A * mask
    mask = response_mask.to(dtype, copy=True)
    row_tokens = mask.sum(-1, keepdim=True)
    log_ratio.mul_(mask)  # masked tokens: log-ratio 0, so they add nothing to ppo_kl or to a sequence's mean
    neg_log_ratio_sum = -log_ratio.sum()
    if sequence_level:
        # GSPO-style length-normalised sequence ratio s_i = exp(mean_t log(pi/pi_old)), shared by every token of
        # the sequence; each token's gradient goes through its own log-prob with factor s_i (GSPO's token form),
        # so seq-mean-token-mean aggregation gives GSPO's sequence gradient.
        seq_ratio = log_ratio.sum(-1, keepdim=True).div_(row_tokens.clamp(min=1.0))
        seq_ratio.clamp_(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT).exp_()
        ratio = log_ratio.copy_(seq_ratio.expand_as(log_ratio))  # full size, so the rest is the same in both modes
    else:
        ratio = log_ratio.exp_()
    masked_advantages = mask.mul_(advantages)  # 0 on masked tokens: no loss, no gradient, sign 0 in the counts

    # buffer 3: clip(r), then the loss terms, then scratch for the counts. buffer 4: the band side, then the frozen mask.
    pos_upper, neg_upper = (min(1.0 + high, UNREACHABLE_RATIO) for high in (bounds.pos_high, bounds.neg_high))
    if bounds.pos_low == bounds.neg_low and pos_upper == neg_upper:
        clipped = ratio.clamp(1.0 - bounds.pos_low, pos_upper)  # one band for both signs (the paper's setting)
        band_side = torch.empty_like(ratio)
    else:
        band_side = torch.sign(masked_advantages).clamp_(min=0.0)  # for now: 1 where A > 0, else 0
        clipped = _per_token_edges(band_side, 1.0 - bounds.pos_low, 1.0 - bounds.neg_low, torch.empty_like(ratio))
        torch.maximum(clipped, ratio, out=clipped)
        torch.minimum(clipped, _per_token_edges(band_side, pos_upper, neg_upper, torch.empty_like(ratio)),
                      out=clipped)
    # +1 above the band, -1 below, 0 inside: r - clip(r) is exactly 0 iff r == clip(r) (IEEE, with subnormals). A
    # token on an edge is inside, as torch's clamp passes the gradient there.
    torch.sub(ratio, clipped, out=band_side).sign_()

    # clip(r) * A * mask [* weights], multiplied in verl's order (weights last) so the loss rounds as verl's does
    terms = clipped.mul_(masked_advantages)
    if rollout_is_weights is not None:
        terms.mul_(rollout_is_weights)
    pg_loss, coefficient, row_weight = _aggregate(terms, row_tokens, loss_agg_mode, normalisers)

    # The quadrant statistics (see STAT_NAMES and `quadrant_counts`), as exact dot products of -1/0/+1 tensors. The
    # sign of A is built in the spent terms buffer rather than kept in a fifth one.
    advantage_sign = torch.sign(masked_advantages, out=terms)
    frozen_x_side_x_sign = _exact_dot(band_side, advantage_sign)
    frozen_x_side = _exact_dot(band_side, advantage_sign.abs_())
    side_times_sign = torch.sign(masked_advantages, out=terms).mul_(band_side)
    frozen = _exact_dot(side_times_sign, side_times_sign)
    frozen_x_sign = _exact_dot(side_times_sign, band_side)
    del terms, clipped, advantage_sign, side_times_sign
    sums = torch.stack([neg_log_ratio_sum, frozen, frozen_x_side, frozen_x_sign, frozen_x_side_x_sign])
    # valid tokens: each row count is an exact integer below 2**24 (no sequence is that long), summed in float64
    stats = torch.cat([row_tokens.sum(dtype=torch.float64).view(1), sums.to(torch.float64)])

    # d/d log_prob of sum_t clip(r) * A * mask [* weights] is r * A * mask [* weights] inside the band, 0 outside
    # (clip is flat there) and 0 where the log-ratio clamp binds. g - g * 1 zeroes exactly, without a select.
    frozen_mask = band_side.abs_() if beyond_limit is None else torch.maximum(band_side.abs_(), beyond_limit, out=band_side)
    grad_sum = ratio.mul_(masked_advantages)
    if rollout_is_weights is not None:
        grad_sum.mul_(rollout_is_weights)
    grad_sum.addcmul_(grad_sum, frozen_mask, value=-1.0)
    return pg_loss, grad_sum, coefficient, row_weight, stats


class _ABCPolicyLoss(torch.autograd.Function):
    """Autograd for the aggregated ABC loss: the gradient is computed in forward, so backward is one multiply."""

    @staticmethod
    def forward(ctx, log_prob, old_log_prob, advantages, response_mask, rollout_is_weights, bounds, sequence_level,
                loss_agg_mode, normalisers):
        pg_loss, grad_sum, coefficient, row_weight, stats = _forward_terms(
            log_prob, old_log_prob, advantages, response_mask, rollout_is_weights, bounds, sequence_level,
            loss_agg_mode, normalisers,
        )
        coefficient_is_tensor = isinstance(coefficient, torch.Tensor)
        ctx.save_for_backward(grad_sum, coefficient if coefficient_is_tensor else None, row_weight)
        ctx.coefficient = None if coefficient_is_tensor else coefficient
        ctx.log_prob_dtype = log_prob.dtype
        ctx.mark_non_differentiable(stats)
        return pg_loss, stats

    @staticmethod
    @torch.autograd.function.once_differentiable  # the gradient is precomputed: no graph for a second derivative
    def backward(ctx, grad_loss, grad_stats):
        grad_sum, coefficient, row_weight = ctx.saved_tensors
        factor = grad_loss * -(coefficient if coefficient is not None else ctx.coefficient)
        if row_weight is not None:
            factor = factor * row_weight
        grad = torch.empty_like(grad_sum, dtype=ctx.log_prob_dtype)
        torch.mul(grad_sum, factor, out=grad)  # one pass, cast to the log-prob dtype on the way
        return grad, None, None, None, None, None, None, None, None


def abc_policy_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    bounds: ClipBounds,
    ratio_level: str = "token",
    rollout_is_weights: torch.Tensor | None = None,
    loss_agg_mode: str = "token-mean",
    normalisers: Normalisers | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The aggregated ABC-GRPO policy loss and its clip statistics.

    Args:
        log_prob: `(torch.Tensor)` shape (bs, response_length), log pi_theta of the sampled tokens.
        old_log_prob: `(torch.Tensor)` shape (bs, response_length), log pi_old of the same tokens.
        advantages: `(torch.Tensor)` shape (bs, response_length), A-hat (broadcast per sequence for GRPO).
        response_mask: `(torch.Tensor)` shape (bs, response_length), bool or 0/1: valid response tokens. A bool
            mask is fastest as its free ``mask.view(torch.uint8)`` (on CPU a bool -> float cast is several times
            slower, inside a compiled kernel too), which is how the verl glue passes it. Every input must be finite
            at masked positions too (verl pads them with 0).
        bounds: `(ClipBounds)` eps1..eps4.
        ratio_level: `(str)` "token" (the paper) or "sequence" (GSPO-style length-normalised ratio; every
            token of a sequence shares one ratio, so a whole sequence is inside or outside its band).
        rollout_is_weights: `(torch.Tensor | None)` shape (bs, response_length), detached off-policy
            correction weights multiplied into the loss.
        loss_agg_mode: `(str)` one of `AGG_MODES`, aggregated exactly as verl's ``agg_loss`` does.
        normalisers: `(Normalisers | None)` verl's ``global_batch_info``; None: dp_size 1, this micro-batch's counts.

    Returns:
        pg_loss: `(torch.Tensor)` scalar, the aggregate of -A * clip(r, lo(A), hi(A)) [* weights] over valid
            tokens, in at least fp32.
        stats: `(torch.Tensor)` shape (len(STAT_NAMES),), float64 on the input device: the number of valid
            tokens, the sum of -log r over them (for ppo_kl), and the sums from which `quadrant_counts` gives the
            Q1..Q4 token counts (Q1 A>0 & r>1+eps1, Q2 A>0 & r<1-eps2, Q3 A<0 & r<1-eps4, Q4 A<0 & r>1+eps3;
            A == 0 is in none).
    """
    if ratio_level not in RATIO_LEVELS:
        raise ValueError(f"ratio_level must be one of {RATIO_LEVELS}, got {ratio_level!r}")
    return _ABCPolicyLoss.apply(
        log_prob, old_log_prob, advantages, response_mask, rollout_is_weights, bounds, ratio_level == "sequence",
        loss_agg_mode, normalisers if normalisers is not None else Normalisers(),
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
