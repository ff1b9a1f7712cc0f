"""ABC with PPO's bound tuple is verl's own loss, computed by verl's code: an independent check of both levels.

Token level: (eps1, eps2, eps3, eps4) = (clip_ratio_high, 1, clip_ratio_c - 1, clip_ratio_low) is verl's vanilla
(PPO with dual clip). Sequence level: (clip_ratio_high, 1, inf, clip_ratio_low) is verl's gspo. Equal loss and
gradients through the same aggregation prove the plugin shares their plumbing (log-ratio clamp, rollout weights,
agg_loss with global batch info) and GSPO's sequence-ratio gradient.
"""

import pytest
import torch
from verl.trainer.ppo.core_algos import agg_loss, compute_policy_loss_gspo, compute_policy_loss_vanilla

from abc_grpo_verl.algos import compute_policy_loss_abc_grpo
from tests.support import AGG_MODES, make_actor_config, random_batch


def loss_and_grad(fn, batch, config, mode, weights):
    log_prob = batch["log_prob"].clone().requires_grad_(True)
    loss, _ = fn(old_log_prob=batch["old_log_prob"], log_prob=log_prob, advantages=batch["advantages"],
                 response_mask=batch["response_mask"], loss_agg_mode=mode, config=config, rollout_is_weights=weights)
    loss.backward()
    return loss.detach(), log_prob.grad


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("clip_ratio_c", [3.0, 1.2])
@pytest.mark.parametrize(("clip_low", "clip_high"), [(0.2, 0.2), (0.2, 0.28)])
@pytest.mark.parametrize("use_weights", [False, True])
def test_abc_with_ppo_tuple_equals_vanilla(mode, clip_ratio_c, clip_low, clip_high, use_weights):
    batch = random_batch(bs=16, length=32, seed=7, spread=0.6, dtype=torch.float64)
    weights = batch["weights"] if use_weights else None
    shared = dict(loss_agg_mode=mode, clip_ratio_low=clip_low, clip_ratio_high=clip_high, clip_ratio_c=clip_ratio_c)
    vanilla = make_actor_config(loss_mode="vanilla", **shared)
    abc = make_actor_config(clip_pos_high=clip_high, clip_pos_low=1.0, clip_neg_high=clip_ratio_c - 1,
                            clip_neg_low=clip_low, **shared)
    global_info = {"dp_size": 1, "batch_num_tokens": 300, "global_batch_size": 20, "loss_scale_factor": 40}
    vanilla.global_batch_info.update(global_info)
    abc.global_batch_info.update(global_info)

    vanilla_loss, vanilla_grad = loss_and_grad(compute_policy_loss_vanilla, batch, vanilla, mode, weights)
    abc_loss, abc_grad = loss_and_grad(compute_policy_loss_abc_grpo, batch, abc, mode, weights)

    # the batch really exercises every region, so equality is not vacuous
    ratio = (batch["log_prob"] - batch["old_log_prob"]).exp()[batch["response_mask"]]
    assert (ratio > clip_ratio_c).any() and (ratio < 1 - clip_low).any() and (ratio > 1 + clip_high).any()
    torch.testing.assert_close(abc_loss, vanilla_loss, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(abc_grad, vanilla_grad, rtol=1e-12, atol=1e-14)


def test_paper_setting_differs_from_vanilla():
    """Sanity of the test above: with the paper's bounds the gradients must differ (Q2/Q4 are cut)."""
    batch = random_batch(bs=16, length=32, seed=7, spread=0.6, dtype=torch.float64)
    _, vanilla_grad = loss_and_grad(compute_policy_loss_vanilla, batch, make_actor_config(loss_mode="vanilla"),
                                    "token-mean", None)
    _, abc_grad = loss_and_grad(compute_policy_loss_abc_grpo, batch, make_actor_config(), "token-mean", None)
    assert not torch.allclose(abc_grad, vanilla_grad)


def gspo_aggregation(mode: str) -> str:
    """The mode the installed verl's gspo really aggregates with when asked for `mode`: 0.9.1 honours it, verl main
    hard-codes seq-mean-token-mean. Found by running it, so the test follows whichever verl is installed."""
    batch = random_batch(bs=4, length=6, seed=1, dtype=torch.float64)
    losses = {m: loss_and_grad(compute_policy_loss_gspo, batch, make_actor_config(loss_mode="gspo", loss_agg_mode=m),
                               m, None)[0] for m in ("token-sum", "seq-mean-token-mean")}
    return mode if not torch.equal(losses["token-sum"], losses["seq-mean-token-mean"]) else "seq-mean-token-mean"


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize(("clip_low", "clip_high"), [(0.2, 0.2), (0.1, 0.28)])
@pytest.mark.parametrize("use_weights", [False, True])
def test_sequence_level_abc_with_ppo_tuple_equals_verl_gspo(mode, clip_low, clip_high, use_weights):
    # spread 1.5: sequence means leave the band on both sides, yet stay far from verl's log-ratio cap of 10
    batch = random_batch(bs=32, length=16, seed=9, spread=1.5, dtype=torch.float64)
    weights = batch["weights"] if use_weights else None
    shared = dict(loss_agg_mode=mode, clip_ratio_low=clip_low, clip_ratio_high=clip_high)
    gspo = make_actor_config(loss_mode="gspo", **shared)
    abc = make_actor_config(clip_pos_high=clip_high, clip_pos_low=1.0, clip_neg_high=float("inf"),
                            clip_neg_low=clip_low, ratio_level="sequence", **shared)
    global_info = {"dp_size": 1, "batch_num_tokens": 300, "global_batch_size": 40, "loss_scale_factor": 20}
    gspo.global_batch_info.update(global_info)
    abc.global_batch_info.update(global_info)

    gspo_loss, gspo_grad = loss_and_grad(compute_policy_loss_gspo, batch, gspo, mode, weights)
    abc_loss, abc_grad = loss_and_grad(compute_policy_loss_abc_grpo, batch, abc, gspo_aggregation(mode), weights)

    mask = batch["response_mask"]
    seq_ratio = (((batch["log_prob"] - batch["old_log_prob"]) * mask).sum(-1) / mask.sum(-1)).exp()
    assert (seq_ratio > 1 + clip_high).any() and (seq_ratio < 1 - clip_low).any()
    torch.testing.assert_close(abc_loss, gspo_loss, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(abc_grad, gspo_grad, rtol=1e-12, atol=1e-14)


def ppo_clip_loss(batch, eps_low, eps_high, mode, global_info, weights):
    """PPO's clipped objective as Schulman et al. (2017) write it, without dual clip: max(-A r, -A clip(r))."""
    log_prob = batch["log_prob"].clone().requires_grad_(True)
    ratio = torch.exp(torch.clamp(log_prob - batch["old_log_prob"], -20.0, 20.0))
    advantages = batch["advantages"]
    loss_mat = torch.maximum(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - eps_low, 1 + eps_high))
    if weights is not None:
        loss_mat = loss_mat * weights
    loss = agg_loss(loss_mat=loss_mat, loss_mask=batch["response_mask"], loss_agg_mode=mode, **global_info)
    loss.backward()
    return loss.detach(), log_prob.grad


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("use_weights", [False, True])
def test_preset_ppo_without_dual_clip_is_the_ppo_clip_objective(mode, use_weights):
    """(eps1, eps2, eps3, eps4) = (eps, 1, inf, eps): PPO with Q2 and Q4 open, which verl's vanilla cannot express
    (its dual clip c must be finite; verl PR #7246 to allow inf was closed)."""
    batch = random_batch(bs=16, length=32, seed=17, spread=1.0, dtype=torch.float64)
    weights = batch["weights"] if use_weights else None
    global_info = {"dp_size": 1, "batch_num_tokens": 300, "global_batch_size": 20, "loss_scale_factor": 40}
    abc = make_actor_config(loss_agg_mode=mode, clip_pos_high=0.2, clip_pos_low=1.0, clip_neg_high=float("inf"),
                            clip_neg_low=0.2)
    abc.global_batch_info.update(global_info)
    abc_loss, abc_grad = loss_and_grad(compute_policy_loss_abc_grpo, batch, abc, mode, weights)
    ppo_loss_value, ppo_grad = ppo_clip_loss(batch, 0.2, 0.2, mode, global_info, weights)
    ratio = (batch["log_prob"] - batch["old_log_prob"]).exp()[batch["response_mask"]]
    assert (ratio > 3.0).any()  # where verl's default dual clip would have bounded Q4
    torch.testing.assert_close(abc_loss, ppo_loss_value, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(abc_grad, ppo_grad, rtol=1e-12, atol=1e-14)
