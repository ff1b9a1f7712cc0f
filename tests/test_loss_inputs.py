"""Bad or unusual input to the abc_grpo loss, as a careful user would try it, and verl's plumbing followed for free.

Each bad input here was once seen to give a silently wrong loss; each now gives verl's answer or a clear error.
"""

import math
import re

import numpy as np
import pytest
import torch
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla

from abc_grpo_verl import algos
from abc_grpo_verl.algos import compute_policy_loss_abc_grpo
from tests.support import make_actor_config, random_batch, reference_token_terms

PPO_TUPLE = {"clip_pos_high": 0.2, "clip_pos_low": 1.0, "clip_neg_high": 2.0, "clip_neg_low": 0.2}  # vanilla, c = 3


def loss_and_grad(fn, config, old_log_prob, log_prob, advantages, response_mask, weights=None, mode=None):
    log_prob = log_prob.clone().requires_grad_(True)
    loss, metrics = fn(old_log_prob=old_log_prob, log_prob=log_prob, advantages=advantages,
                       response_mask=response_mask, loss_agg_mode=mode or config.loss_agg_mode, config=config,
                       rollout_is_weights=weights)
    loss.backward()
    return loss.detach(), log_prob.grad, metrics


@pytest.mark.parametrize("mode", ["token-mean", "token-sum"])
@pytest.mark.parametrize("junk", [math.nan, math.inf, -math.inf])
def test_non_finite_padding_gives_vanilla_finite_answer(mode, junk):
    """A nan/inf log-prob at a padded position: verl's vanilla selects it away in the token modes (its masked_sum),
    and so must we, with equal numbers. (In the seq-mean modes vanilla's agg_loss multiplies the mask in and returns
    nan; ours selects padding away before aggregating and stays finite: tests/test_properties.py.)"""
    batch = random_batch(seed=21, dtype=torch.float64)
    mask = batch["response_mask"]
    assert not mask.all()
    log_prob = batch["log_prob"].masked_fill(~mask, junk)
    vanilla = loss_and_grad(compute_policy_loss_vanilla, make_actor_config(loss_mode="vanilla", loss_agg_mode=mode),
                            batch["old_log_prob"], log_prob, batch["advantages"], mask)
    abc = loss_and_grad(compute_policy_loss_abc_grpo, make_actor_config(loss_agg_mode=mode, **PPO_TUPLE),
                        batch["old_log_prob"], log_prob, batch["advantages"], mask)
    assert math.isfinite(abc[0].item()) and torch.isfinite(abc[1]).all()
    torch.testing.assert_close(abc[0], vanilla[0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(abc[1], vanilla[1], rtol=1e-12, atol=1e-14)
    assert math.isfinite(abc[2]["actor/ppo_kl"])


def test_fp16_log_ratio_of_12_with_an_open_upper_side_gives_a_finite_gradient():
    """exp(12) overflows fp16 but not the fp32 the loss computes in; the gradient is r * A / tokens, ~1.3e3."""
    old = torch.zeros(1, 128, dtype=torch.float16)
    log_prob = torch.full((1, 128), 12.0, dtype=torch.float16)
    config = make_actor_config(clip_pos_high=math.inf)
    loss, grad, _ = loss_and_grad(compute_policy_loss_abc_grpo, config, old, log_prob,
                                  torch.ones(1, 128, dtype=torch.float16), torch.ones(1, 128, dtype=torch.bool))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(-math.exp(12), rel=1e-6)
    assert grad.dtype == torch.float16 and torch.isfinite(grad).all()
    assert grad[0, 0].item() == pytest.approx(-math.exp(12) / 128, rel=2**-10)


@pytest.mark.parametrize(("name", "shape"), [("advantages", (9,)), ("old_log_prob", (1, 9)),
                                             ("response_mask", (6, 1)), ("rollout_is_weights", (9,))])
def test_mismatched_shapes_are_an_error_naming_the_argument_and_both_shapes(name, shape):
    batch = random_batch(bs=6, length=9)
    inputs = {"old_log_prob": batch["old_log_prob"], "log_prob": batch["log_prob"],
              "advantages": batch["advantages"], "response_mask": batch["response_mask"],
              "rollout_is_weights": batch["weights"]}
    inputs[name] = torch.ones(shape, dtype=inputs[name].dtype)
    with pytest.raises(ValueError, match=re.escape(f"{name} has shape {shape} but log_prob has (6, 9)")):
        compute_policy_loss_abc_grpo(**inputs, loss_agg_mode="token-mean", config=make_actor_config())


def test_log_prob_of_another_rank_is_an_error():
    with pytest.raises(ValueError, match=r"log_prob must have shape \(bs, response_length\), got \(9,\)"):
        compute_policy_loss_abc_grpo(torch.zeros(9), torch.zeros(9), torch.zeros(9), torch.ones(9, dtype=torch.bool),
                                     "token-mean", make_actor_config())


@pytest.mark.parametrize("bad", [-1.0, 2.0, 0.5])
def test_a_mask_that_is_not_0_or_1_is_refused(bad):
    """verl's agg_loss would use such a mask as a weight (-1 flips the loss's sign): refused, with the count."""
    batch = random_batch(seed=3)
    mask = batch["response_mask"].float()
    mask[0, 0], mask[1, 0] = bad, bad
    with pytest.raises(ValueError, match=r"response_mask holds 2 values other than 0 and 1"):
        compute_policy_loss_abc_grpo(batch["old_log_prob"], batch["log_prob"], batch["advantages"], mask,
                                     "token-mean", make_actor_config())


def test_a_float_or_int_0_1_mask_is_the_bool_mask():
    batch = random_batch(seed=3)
    results = [loss_and_grad(compute_policy_loss_abc_grpo, make_actor_config(), batch["old_log_prob"],
                             batch["log_prob"], batch["advantages"], batch["response_mask"].to(dtype))
               for dtype in (torch.bool, torch.float32, torch.int64)]
    for loss, grad, metrics in results[1:]:
        assert torch.equal(loss, results[0][0]) and torch.equal(grad, results[0][1]) and metrics == results[0][2]


def test_a_mode_and_batch_info_key_we_never_name_work_through_verls_agg_loss(monkeypatch):
    """A future verl (PRs #6271, #7514) adds global_batch_info keys and agg modes: the loss must follow unchanged.

    The installed agg_loss is wrapped with a new mode, rollout-mean-token-mean (per-sequence token means weighted by
    rollout_loss_weights, over global_rollout_count), taking two new keys; ABC with PPO's tuple must still equal
    vanilla through it, and both must equal the mode computed here from the independent per-token reference.
    """
    installed = core_algos.agg_loss

    def future_agg_loss(loss_mat, loss_mask, loss_agg_mode, rollout_loss_weights=None, global_rollout_count=None,
                        **global_batch_info):
        if loss_agg_mode != "rollout-mean-token-mean":
            return installed(loss_mat, loss_mask, loss_agg_mode, **global_batch_info)
        token_means = (loss_mat * loss_mask).sum(-1) / loss_mask.sum(-1).clamp(min=1)
        return (token_means * rollout_loss_weights).sum() / global_rollout_count * global_batch_info["dp_size"]

    monkeypatch.setattr(core_algos, "agg_loss", future_agg_loss)
    batch = random_batch(bs=6, length=9, seed=30, spread=0.8, dtype=torch.float64)
    rollout_weights = torch.tensor([0.5, 1.0, 2.0, 1.0, 0.25, 1.5], dtype=torch.float64)
    info = {"dp_size": 1, "batch_num_tokens": 30, "global_batch_size": 6, "loss_scale_factor": None,
            "rollout_loss_weights": rollout_weights, "global_rollout_count": 4}
    results = {}
    for name, fn, loss_mode in (("abc", compute_policy_loss_abc_grpo, "abc_grpo"),
                                ("vanilla", compute_policy_loss_vanilla, "vanilla")):
        # the installed ActorConfig validates loss_agg_mode against its own list; the mode goes in as ppo_loss passes it
        config = make_actor_config(loss_mode=loss_mode, **(PPO_TUPLE if loss_mode == "abc_grpo" else {}))
        config.global_batch_info.update(info)
        results[name] = loss_and_grad(fn, config, batch["old_log_prob"], batch["log_prob"], batch["advantages"],
                                      batch["response_mask"], mode="rollout-mean-token-mean")
    values, _ = reference_token_terms(batch["log_prob"], batch["old_log_prob"], batch["advantages"],
                                      batch["response_mask"], (0.2, 1.0, 2.0, 0.2))
    mask = batch["response_mask"].tolist()
    expected = sum(
        w * sum(v for v, m in zip(row, mrow, strict=True) if m) / max(sum(mrow), 1)
        for row, mrow, w in zip(values, mask, rollout_weights.tolist(), strict=True)
    ) / 4
    assert results["abc"][0].item() == pytest.approx(expected, rel=1e-12)
    torch.testing.assert_close(results["abc"][0], results["vanilla"][0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(results["abc"][1], results["vanilla"][1], rtol=1e-12, atol=1e-14)


def test_averaged_counts_give_the_exact_token_pooled_share():
    """verl averages each metric over micro-batches (and ranks): the mean of shares is not the pooled share,
    the ratio of the mean counts is (verl issue #1508)."""
    # micro-batch 1: 2 valid tokens, both in Q1; micro-batch 2: 8 valid tokens, 1 in Q1
    first = {"ratios": [[1.5, 1.5]], "mask": [[1, 1]]}
    second = {"ratios": [[1.5, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], "mask": [[1] * 4, [1] * 4]}
    metrics = []
    for part in (first, second):
        ratios = torch.tensor(part["ratios"], dtype=torch.float64)
        _, m = compute_policy_loss_abc_grpo(torch.zeros_like(ratios), ratios.log(), torch.ones_like(ratios),
                                            torch.tensor(part["mask"], dtype=torch.bool), "token-mean",
                                            make_actor_config())
        metrics.append(m)
    averaged = {key: np.mean([m[key] for m in metrics]) for key in metrics[0]}
    assert averaged["actor/abc_clip_tokens_q1"] / averaged["actor/abc_valid_tokens"] == pytest.approx(3 / 10)
    assert averaged["actor/abc_clipfrac_q1"] == pytest.approx((1.0 + 1 / 8) / 2)  # what verl's mean of shares gives
    assert [m["actor/abc_clip_tokens_q1"] for m in metrics] == [2.0, 1.0]
    assert [m["actor/abc_valid_tokens"] for m in metrics] == [2.0, 8.0]


def _call(log_prob, old_log_prob, mask=None, config=None, mode="token-mean"):
    mask = torch.ones_like(log_prob, dtype=torch.bool) if mask is None else mask
    return compute_policy_loss_abc_grpo(old_log_prob=old_log_prob, log_prob=log_prob,
                                        advantages=torch.ones_like(log_prob), response_mask=mask,
                                        loss_agg_mode=mode, config=config or make_actor_config())


@pytest.mark.parametrize("ratio_level", ["token", "sequence"])
@pytest.mark.parametrize("value", [math.inf, -math.inf])
@pytest.mark.parametrize("name", ["log_prob", "old_log_prob"])
def test_an_infinite_log_prob_at_a_valid_position_is_an_error_at_both_ratio_levels(name, value, ratio_level):
    """+-inf at a valid position: the token level clamps it to a finite loss, the sequence level made the whole
    sequence NaN; no distribution gives a sampled token that log-prob, so both levels refuse it, naming where."""
    tensors = {"log_prob": torch.full((2, 3), -1.0), "old_log_prob": torch.full((2, 3), -1.0)}
    tensors[name][1, 2] = value
    with pytest.raises(ValueError, match=rf"1 valid position\(s\) of {name} are infinite, the first at \[1, 2\] = "
                                         r"-?inf: a log-probability must be finite"):
        _call(**tensors, config=make_actor_config(ratio_level=ratio_level))


def test_an_infinite_log_prob_after_a_positive_one_is_named_not_the_positive_one():
    """The error named the first impossible value, +5 at [0, 0], while refusing the inf at [1, 1]."""
    log_prob = torch.tensor([[5.0, -1.0], [-1.0, math.inf]])
    with pytest.raises(ValueError, match=re.escape("1 valid position(s) of log_prob are infinite, the first at "
                                                   "[1, 1] = inf: ")):
        _call(log_prob, torch.full((2, 2), -1.0))


@pytest.mark.parametrize("value", [5.0, 1e30])
@pytest.mark.parametrize("name", ["log_prob", "old_log_prob"])
def test_a_positive_log_prob_gives_verls_loss_with_a_warning_naming_it(name, value, caplog, monkeypatch):
    """+5 or 1e30 is a probability above 1: the loss stays the formula's on those numbers (the ratio clamped at
    exp(+-20), as verl's vanilla does), and a warning names the tensor, the count and the first value (it was
    silent)."""
    tensors = {"log_prob": torch.full((2, 3), -1.0, dtype=torch.float64),
               "old_log_prob": torch.full((2, 3), -1.0, dtype=torch.float64)}
    tensors[name][0, 1] = value
    monkeypatch.setattr(algos, "_warned_positive_log_probs", False)
    with caplog.at_level("WARNING", logger="abc_grpo_verl.algos"):
        loss, metrics = _call(**tensors)
    # A = 1 everywhere: the 5 inside tokens give -1 each, the odd one -(1 + 0.2) above the band, -(1 - 0.2) below
    assert loss.item() == pytest.approx(-(5 + (1.2 if name == "log_prob" else 0.8)) / 6)
    assert f"1 valid position(s) of {name}, the first at [0, 1] = {value!r} > 0" in caplog.text
    assert metrics["actor/abc_positive_log_probs"] == 1


def test_positive_log_probs_are_warned_about_once_and_counted_in_every_micro_batch(monkeypatch, caplog):
    """They come every micro-batch when they come at all: the warning repeated each time. Now: one warning per
    process, and the metric counts them (2 + 1 here, 1 in the next call) in every call."""
    monkeypatch.setattr(algos, "_warned_positive_log_probs", False)
    log_prob = torch.tensor([[5.0, -1.0, 0.5], [-1.0, -1.0, -1.0]])
    old_log_prob = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 2.0, -1.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    with caplog.at_level("WARNING", logger="abc_grpo_verl.algos"):
        _, first = _call(log_prob, old_log_prob, mask=mask)
        _, second = _call(torch.tensor([[-1.0, 3.0]]), torch.tensor([[-1.0, -1.0]]))
        _, clean = _call(torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.0, -1.0]]))
    assert (first["actor/abc_positive_log_probs"], second["actor/abc_positive_log_probs"]) == (3, 1)
    assert clean["actor/abc_positive_log_probs"] == 0
    assert caplog.text.count("> 0: a log-probability is <= 0") == 1
    assert "2 valid position(s) of log_prob, the first at [0, 0] = 5.0 > 0" in caplog.text


def test_a_log_prob_rounded_just_above_zero_is_accepted_silently(caplog):
    """log_softmax rounds: 16-bit log-probs may sit a few ulps above 0 (0.0625 at logits near 10), fp32 ones far
    less; neither is reported."""
    with caplog.at_level("WARNING", logger="abc_grpo_verl.algos"):
        _call(torch.tensor([[0.0625, -1.0]], dtype=torch.bfloat16), torch.tensor([[-0.5, -1.0]]).bfloat16())
        _call(torch.tensor([[1e-4, -1.0]]), torch.tensor([[-0.5, -1.0]]))
    assert caplog.text == ""


@pytest.mark.parametrize("shape", [(0, 5), (4, 0), (0, 0)])
def test_an_empty_batch_is_an_error_not_a_nan(shape):
    with pytest.raises(ValueError, match=re.escape(f"log_prob has shape {shape}: the abc_grpo loss needs at least "
                                                   "one response of at least one token")):
        _call(torch.zeros(shape), torch.zeros(shape))


@pytest.mark.parametrize(("mode", "key"), [("token-mean", "batch_num_tokens"),
                                           ("seq-mean-token-mean", "global_batch_size")])
@pytest.mark.parametrize("count", [0, -3])
def test_a_global_count_below_one_with_valid_tokens_is_an_error(mode, key, count):
    """14 valid tokens normalised by a global count of 0 gave -inf and an infinite gradient."""
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 6:] = False  # 8 + 6 = 14 valid tokens
    config = make_actor_config()
    config.global_batch_info.update({"dp_size": 1, "batch_num_tokens": 14, "global_batch_size": 2, key: count})
    with pytest.raises(ValueError, match=re.escape(f"global_batch_info[{key!r}]={count} is invalid while this "
                                                   "micro-batch holds 14 valid tokens")):
        _call(torch.full((2, 8), -1.0), torch.full((2, 8), -1.0), mask=mask, config=config, mode=mode)


@pytest.mark.parametrize("dp_size", [0, -2])
def test_a_dp_size_below_one_with_valid_tokens_is_an_error(dp_size):
    """agg_loss multiplies the loss by dp_size: 0 made the loss 0 and trained nothing, with no word."""
    config = make_actor_config()
    config.global_batch_info.update({"dp_size": dp_size, "batch_num_tokens": 6, "global_batch_size": 2})
    with pytest.raises(ValueError, match=re.escape(f"global_batch_info['dp_size']={dp_size} is invalid while this "
                                                   "micro-batch holds 6 valid tokens: the data-parallel size "
                                                   "agg_loss multiplies by must be >= 1")):
        _call(torch.full((2, 3), -1.0), torch.full((2, 3), -1.0), config=config)


def test_an_all_masked_micro_batch_without_global_counts_gives_verls_nan():
    """verl's agg_loss divides by the local count when no global one is given: 0/0 for a micro-batch of padding
    only, for vanilla as for abc_grpo. Kept as verl's (its trainer always passes the global counts); documented."""
    mask = torch.zeros(2, 3, dtype=torch.bool)
    abc, metrics = _call(torch.full((2, 3), -1.0), torch.full((2, 3), -1.0), mask=mask)
    vanilla, _ = compute_policy_loss_vanilla(
        old_log_prob=torch.full((2, 3), -1.0), log_prob=torch.full((2, 3), -1.0), advantages=torch.ones(2, 3),
        response_mask=mask, loss_agg_mode="token-mean", config=make_actor_config(loss_mode="vanilla"))
    assert math.isnan(abc.item()) and math.isnan(vanilla.item())
    assert metrics["actor/abc_valid_tokens"] == 0
