"""Test helpers: fresh verl actor configs, random batches, and an independent per-element reference of the loss.

The reference is written from the paper's definition with Python floats and explicit loops, not from the
implementation: per token r = exp(clamp(lp - old, -20, 20)), band [1 - low, 1 + high] picked by A > 0,
value -A * clip(r) * w, and d value / d lp = -A * r * w inside the band (0 outside).
"""

import math

import torch
from verl.workers.config import ActorConfig

from abc_grpo_verl.config import ABCPolicyLossConfig

AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def make_actor_config(loss_mode="abc_grpo", loss_agg_mode="token-mean", clip_ratio_low=0.2, clip_ratio_high=0.2,
                      clip_ratio_c=3.0, loss_scale_factor=None, **policy_loss):
    """A fresh ActorConfig (verl's ppo_loss mutates global_batch_info, so never share one between calls)."""
    return ActorConfig(
        strategy="fsdp",
        rollout_n=1,
        ppo_micro_batch_size_per_gpu=1,
        loss_agg_mode=loss_agg_mode,
        clip_ratio_low=clip_ratio_low,
        clip_ratio_high=clip_ratio_high,
        clip_ratio_c=clip_ratio_c,
        loss_scale_factor=loss_scale_factor,
        policy_loss=ABCPolicyLossConfig(loss_mode=loss_mode, **policy_loss),
    )


def random_batch(bs=6, length=9, seed=0, spread=0.5, dtype=torch.float32):
    """Log-probs whose ratios straddle every band edge, advantages of both signs and zero, a ragged mask."""
    gen = torch.Generator().manual_seed(seed)
    old = -torch.rand(bs, length, generator=gen, dtype=torch.float64) * 3
    log_prob = old + torch.randn(bs, length, generator=gen, dtype=torch.float64) * spread
    advantages = torch.randn(bs, 1, generator=gen, dtype=torch.float64).expand(bs, length).clone()
    advantages[0] = 0.0
    lengths = torch.randint(1, length + 1, (bs,), generator=gen)
    mask = torch.arange(length)[None, :] < lengths[:, None]
    weights = torch.rand(bs, length, generator=gen, dtype=torch.float64) + 0.5
    return {
        "old_log_prob": old.to(dtype),
        "log_prob": log_prob.to(dtype),
        "advantages": advantages.to(dtype),
        "response_mask": mask,
        "weights": weights.to(dtype),
    }


def reference_token_terms(log_prob, old_log_prob, advantages, mask, widths, ratio_level="token", weights=None):
    """Per-token (value, d value / d log_prob) as nested lists of floats, from the paper's definition.

    `widths` = (eps1, eps2, eps3, eps4) = (pos_high, pos_low, neg_high, neg_low).
    """
    eps1, eps2, eps3, eps4 = widths
    lp, old, adv, m = log_prob.tolist(), old_log_prob.tolist(), advantages.tolist(), mask.tolist()
    w = weights.tolist() if weights is not None else None
    values, grads = [], []
    for i in range(len(lp)):
        token_log_ratios = [max(-20.0, min(20.0, lp[i][t] - old[i][t])) for t in range(len(lp[i]))]
        if ratio_level == "sequence":
            # GSPO's s_i from the unclamped log-ratios; beyond the +-20 limit the ratio stops moving (no gradient)
            valid = [t for t in range(len(lp[i])) if m[i][t]]
            raw_seq = sum(lp[i][t] - old[i][t] for t in valid) / max(len(valid), 1)
            seq = max(-20.0, min(20.0, raw_seq))
        row_v, row_g = [], []
        for t in range(len(lp[i])):
            a = adv[i][t]
            low, high = (eps2, eps1) if a > 0 else (eps4, eps3)
            if ratio_level == "sequence":
                r, moves = math.exp(seq), abs(raw_seq) < 20.0
            else:
                r, moves = math.exp(token_log_ratios[t]), abs(lp[i][t] - old[i][t]) < 20.0
            clipped = min(max(r, 1 - low), 1 + high)
            inside = (1 - low) <= r <= (1 + high)
            weight = w[i][t] if w is not None else 1.0
            row_v.append(-a * clipped * weight)
            row_g.append(-a * r * weight if inside and moves else 0.0)
        values.append(row_v)
        grads.append(row_g)
    return values, grads


def reference_aggregate(values, mask, mode, batch_num_tokens=None, global_batch_size=None, loss_scale_factor=None):
    """verl's five loss_agg_modes written out with loops (dp_size 1); also returns each token's weight."""
    m = mask.tolist()
    n_tokens = batch_num_tokens if batch_num_tokens is not None else sum(sum(row) for row in m)
    n_seqs = global_batch_size if global_batch_size is not None else sum(1 for row in m if any(row))
    horizon = loss_scale_factor if loss_scale_factor is not None else len(m[0])
    coef = []
    for row in m:
        length = sum(row)
        if mode == "token-mean":
            c = 1.0 / n_tokens
        elif mode == "token-sum":
            c = 1.0
        elif mode == "seq-mean-token-sum":
            c = 1.0 / n_seqs
        elif mode == "seq-mean-token-mean":
            # verl adds 1e-8 to an integer count, which yields a float32 tensor: the sum is rounded to fp32
            c = 1.0 / (float(torch.tensor(length + 1e-8, dtype=torch.float32)) * n_seqs)
        else:
            c = 1.0 / (n_seqs * horizon)
        coef.append([c if valid else 0.0 for valid in row])
    total = sum(v * c for vr, cr in zip(values, coef, strict=True) for v, c in zip(vr, cr, strict=True))
    return total, coef
