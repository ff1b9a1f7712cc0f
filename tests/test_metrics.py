"""Quadrant metrics on hand-built batches where each quadrant's count is known."""

import math

import pytest
import torch

from abc_grpo_verl.algos import compute_policy_loss_abc_grpo
from tests.support import make_actor_config


def metrics_for(ratios, advantages, mask, **widths):
    ratios = torch.tensor(ratios, dtype=torch.float64)
    config = make_actor_config(**widths)
    _, metrics = compute_policy_loss_abc_grpo(
        old_log_prob=torch.zeros_like(ratios), log_prob=ratios.log(),
        advantages=torch.tensor(advantages, dtype=torch.float64).expand_as(ratios).clone(),
        response_mask=torch.tensor(mask, dtype=torch.bool), loss_agg_mode="token-mean", config=config,
    )
    return metrics


def test_each_quadrant_counted_over_all_valid_tokens():
    # 4 rows x 5 tokens, bands [0.8, 1.2]. Row A>0: 1.5, 1.3 (Q1 x2), 0.5 (Q2), 1.0 (inside), 2.0 (masked).
    # Row A<0: 1.25 (Q4), 0.7, 0.1 (Q3 x2), 1.19 (inside), 0.1 (masked). Row A=0: 3.0, 0.1 (no quadrant).
    # Row A<0 short: 5.0 (Q4), rest masked. Valid tokens: 4 + 4 + 2 + 1 = 11.
    ratios = [[1.5, 1.3, 0.5, 1.0, 2.0], [1.25, 0.7, 0.1, 1.19, 0.1], [3.0, 0.1, 1.0, 1.0, 1.0],
              [5.0, 1.0, 1.0, 1.0, 1.0]]
    advantages = [[1.0], [-0.5], [0.0], [-2.0]]
    mask = [[1, 1, 1, 1, 0], [1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]]
    m = metrics_for(ratios, advantages, mask)
    assert m["actor/abc_clipfrac_q1"] == pytest.approx(2 / 11)
    assert m["actor/abc_clipfrac_q2"] == pytest.approx(1 / 11)
    assert m["actor/abc_clipfrac_q3"] == pytest.approx(2 / 11)
    assert m["actor/abc_clipfrac_q4"] == pytest.approx(2 / 11)
    assert m["actor/pg_clipfrac"] == pytest.approx(7 / 11)
    assert m["actor/pg_clipfrac_lower"] == m["actor/abc_clipfrac_q4"]


def test_asymmetric_bands_move_tokens_between_inside_and_out():
    # eps1 = 0.5, eps2 = 1 (Q2 open, as PPO), eps3 = 2 (verl's dual clip c = 3), eps4 = 0.1
    ratios = [[1.4, 1.6, 0.05, 0.95], [2.9, 3.1, 0.95, 0.85]]
    advantages = [[1.0], [-1.0]]
    m = metrics_for(ratios, advantages, [[1] * 4] * 2, clip_pos_high=0.5, clip_pos_low=1.0, clip_neg_high=2.0,
                    clip_neg_low=0.1)
    assert m["actor/abc_clipfrac_q1"] == pytest.approx(1 / 8)  # 1.6 only
    assert m["actor/abc_clipfrac_q2"] == 0.0  # nothing is below 1 - 1 = 0
    assert m["actor/abc_clipfrac_q4"] == pytest.approx(1 / 8)  # 3.1 only
    assert m["actor/abc_clipfrac_q3"] == pytest.approx(1 / 8)  # 0.85 only


def test_unbounded_high_side_never_counts():
    m = metrics_for([[1e6, 0.5]], [[-1.0]], [[1, 1]], clip_neg_high=math.inf)
    assert m["actor/abc_clipfrac_q4"] == 0.0
    assert m["actor/abc_clipfrac_q3"] == pytest.approx(0.5)


def test_tokens_on_the_band_edge_are_inside():
    # clamp passes the gradient at the edge itself, so an edge token is not counted as clipped
    m = metrics_for([[1.25, 0.75]], [[1.0]], [[1, 1]], clip_pos_high=0.25, clip_pos_low=0.25)
    assert m["actor/pg_clipfrac"] == 0.0
