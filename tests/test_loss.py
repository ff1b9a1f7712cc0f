"""The abc_grpo loss against the independent per-element reference: values, gradients, every aggregation mode."""

import math
import zlib

import pytest
import torch
from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla

from abc_grpo_verl.algos import compute_policy_loss_abc_grpo
from tests.support import AGG_MODES, make_actor_config, random_batch, reference_aggregate, reference_token_terms

# (eps1, eps2, eps3, eps4): the paper's setting, an asymmetric one, and one with an unbounded side.
WIDTHS = [(0.2, 0.2, 0.2, 0.2), (0.28, 0.1, 0.35, 0.3), (math.inf, 1.0, 0.2, 0.2)]


def run_loss(batch, widths, mode, ratio_level="token", use_weights=False, global_batch_info=None):
    eps1, eps2, eps3, eps4 = widths
    config = make_actor_config(
        loss_agg_mode=mode, clip_pos_high=eps1, clip_pos_low=eps2, clip_neg_high=eps3, clip_neg_low=eps4,
        ratio_level=ratio_level,
    )
    config.global_batch_info.update(global_batch_info or {})
    log_prob = batch["log_prob"].clone().requires_grad_(True)
    loss, metrics = compute_policy_loss_abc_grpo(
        old_log_prob=batch["old_log_prob"], log_prob=log_prob, advantages=batch["advantages"],
        response_mask=batch["response_mask"], loss_agg_mode=mode, config=config,
        rollout_is_weights=batch["weights"] if use_weights else None,
    )
    loss.backward()
    return loss, log_prob.grad, metrics


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("widths", WIDTHS)
@pytest.mark.parametrize("ratio_level", ["token", "sequence"])
@pytest.mark.parametrize("use_weights", [False, True])
def test_loss_and_gradient_match_reference(mode, widths, ratio_level, use_weights):
    batch = random_batch(seed=zlib.crc32(repr((mode, widths, ratio_level, use_weights)).encode()), dtype=torch.float64)
    weights = batch["weights"] if use_weights else None
    values, grads = reference_token_terms(
        batch["log_prob"], batch["old_log_prob"], batch["advantages"], batch["response_mask"], widths,
        ratio_level, weights,
    )
    expected_loss, coef = reference_aggregate(values, batch["response_mask"], mode)
    expected_grad = torch.tensor(
        [[g * c for g, c in zip(gr, cr, strict=True)] for gr, cr in zip(grads, coef, strict=True)], dtype=torch.float64
    )

    loss, grad, _ = run_loss(batch, widths, mode, ratio_level, use_weights)

    assert loss.item() == pytest.approx(expected_loss, rel=1e-9, abs=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-9, atol=1e-12)


def test_tokens_outside_their_band_get_exactly_zero_gradient():
    # One token per quadrant, plus an inside token of each sign; A = +-1 so the numbers are easy to read.
    old = torch.zeros(1, 6, dtype=torch.float64)
    ratios = torch.tensor([[1.5, 0.5, 1.1, 1.5, 0.5, 0.9]], dtype=torch.float64)
    advantages = torch.tensor([[1.0, 1.0, 1.0, -1.0, -1.0, -1.0]], dtype=torch.float64)
    batch = {"old_log_prob": old, "log_prob": ratios.log(), "advantages": advantages,
             "response_mask": torch.ones(1, 6, dtype=torch.bool), "weights": None}
    loss, grad, _ = run_loss(batch, (0.2, 0.2, 0.2, 0.2), "token-sum")
    # Q1, Q2 clipped at 1.2 / 0.8 for A>0; Q4, Q3 at 1.2 / 0.8 for A<0; inside tokens keep r.
    assert loss.item() == pytest.approx(-(1.2 + 0.8 + 1.1) + (1.2 + 0.8 + 0.9))
    assert grad.tolist() == [[0.0, 0.0, pytest.approx(-1.1), 0.0, 0.0, pytest.approx(0.9)]]


def test_q2_and_q4_differ_from_ppo():
    """The two quadrants the paper adds: PPO keeps the gradient of Q2 (A>0, r<1-eps) and Q4 (A<0, r>1+eps)."""
    old = torch.zeros(1, 2, dtype=torch.float64)
    batch = {"old_log_prob": old, "log_prob": torch.tensor([[0.5, 2.0]], dtype=torch.float64).log(),
             "advantages": torch.tensor([[1.0, -1.0]], dtype=torch.float64),
             "response_mask": torch.ones(1, 2, dtype=torch.bool), "weights": None}
    _, grad, _ = run_loss(batch, (0.2, 0.2, 0.2, 0.2), "token-sum")
    assert grad.tolist() == [[0.0, 0.0]]
    # With eps2 = 1 and eps3 = inf (PPO's tuple without dual clip) both get their gradient back: -A * r.
    _, grad, _ = run_loss(batch, (0.2, 1.0, math.inf, 0.2), "token-sum")
    assert grad.tolist() == [[pytest.approx(-0.5), pytest.approx(2.0)]]


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("ratio_level", ["token", "sequence"])
def test_micro_batches_with_global_counts_sum_to_the_whole_batch(mode, ratio_level):
    batch = random_batch(bs=8, seed=3, dtype=torch.float64)
    mask = batch["response_mask"]
    # as verl's ppo_loss does, loss_scale_factor reaches agg_loss through global_batch_info
    whole_loss, whole_grad, _ = run_loss(batch, WIDTHS[1], mode, ratio_level, use_weights=True,
                                         global_batch_info={"loss_scale_factor": 7})

    global_info = {"dp_size": 1, "batch_num_tokens": int(mask.sum()),
                   "global_batch_size": int((mask.sum(-1) > 0).sum()),
                   "loss_scale_factor": 7}
    parts_loss, parts_grad = 0.0, []
    for rows in (slice(0, 3), slice(3, 8)):
        part = {k: v[rows] for k, v in batch.items()}
        config = make_actor_config(loss_agg_mode=mode, clip_pos_high=0.28, clip_pos_low=0.1,
                                   clip_neg_high=0.35, clip_neg_low=0.3, ratio_level=ratio_level)
        config.global_batch_info.update(global_info)
        log_prob = part["log_prob"].clone().requires_grad_(True)
        loss, _ = compute_policy_loss_abc_grpo(
            old_log_prob=part["old_log_prob"], log_prob=log_prob, advantages=part["advantages"],
            response_mask=part["response_mask"], loss_agg_mode=mode, config=config,
            rollout_is_weights=part["weights"],
        )
        loss.backward()
        parts_loss += loss.item()
        parts_grad.append(log_prob.grad)

    assert parts_loss == pytest.approx(whole_loss.item(), rel=1e-9)
    torch.testing.assert_close(torch.cat(parts_grad), whole_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("global_info", [None, {"dp_size": 1, "batch_num_tokens": 40, "global_batch_size": 6}])
def test_loss_dtype_is_the_ratio_math_dtype(mode, dtype, global_info):
    """fp32 for fp32 and bf16 inputs (the ratio math is at least fp32), fp64 for fp64: never widened by accident."""
    batch = {k: (v.to(dtype) if k != "response_mask" else v) for k, v in random_batch(seed=12).items()}
    loss, grad, _ = run_loss(batch, WIDTHS[0], mode, global_batch_info=global_info)
    assert loss.dtype == torch.promote_types(dtype, torch.float32)
    assert grad.dtype == dtype


@pytest.mark.parametrize("mode", AGG_MODES)
def test_all_masked_micro_batch_with_global_counts_gives_zero_loss_and_zero_gradient(mode):
    """verl's ppo_loss always passes the global counts, so a micro-batch of padding only contributes exactly 0."""
    batch = random_batch(seed=5)
    batch["response_mask"] = torch.zeros_like(batch["response_mask"])
    loss, grad, metrics = run_loss(batch, WIDTHS[0], mode, global_batch_info={"dp_size": 1, "batch_num_tokens": 40,
                                                                               "global_batch_size": 6})
    assert loss.item() == 0.0
    assert torch.equal(grad, torch.zeros_like(grad))
    assert all(value == 0.0 for key, value in metrics.items() if "_band_" not in key)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_all_masked_micro_batch_without_global_counts_follows_verl(mode):
    """Without global counts verl's agg_loss divides by this micro-batch's own (0): whatever it gives, we give."""
    batch = random_batch(seed=5, dtype=torch.float64)
    batch["response_mask"] = torch.zeros_like(batch["response_mask"])
    loss, grad, metrics = run_loss(batch, (0.2, 1.0, 2.0, 0.2), mode)
    vanilla = make_actor_config(loss_mode="vanilla", loss_agg_mode=mode)
    log_prob = batch["log_prob"].clone().requires_grad_(True)
    expected, _ = compute_policy_loss_vanilla(batch["old_log_prob"], log_prob, batch["advantages"],
                                              batch["response_mask"], mode, vanilla)
    expected.backward()
    torch.testing.assert_close(loss, expected, equal_nan=True)
    torch.testing.assert_close(grad, log_prob.grad, equal_nan=True)
    assert all(value == 0.0 for key, value in metrics.items() if "_band_" not in key)


def test_sequence_level_clips_whole_sequences():
    # Sequence 0: mean log-ratio log(1.5) -> above the band for A>0: every token of it gets zero gradient,
    # even the one whose own ratio (1.0) is inside. Sequence 1: mean log-ratio 0 -> all inside.
    old = torch.zeros(2, 2, dtype=torch.float64)
    log_prob = torch.tensor([[0.0, 2 * math.log(1.5)], [0.3, -0.3]], dtype=torch.float64)
    batch = {"old_log_prob": old, "log_prob": log_prob, "advantages": torch.ones(2, 2, dtype=torch.float64),
             "response_mask": torch.ones(2, 2, dtype=torch.bool), "weights": None}
    loss, grad, metrics = run_loss(batch, WIDTHS[0], "token-sum", ratio_level="sequence")
    assert grad.tolist() == [[0.0, 0.0], [-1.0, -1.0]]
    assert loss.item() == pytest.approx(-(1.2 * 2) - (1.0 * 2))
    assert metrics["actor/abc_clipfrac_q1"] == 0.5


def test_defaults_come_from_the_actor_clip_ratios():
    batch = random_batch(seed=11, dtype=torch.float64)
    config = make_actor_config(loss_agg_mode="token-sum", clip_ratio_low=0.15, clip_ratio_high=0.25)
    log_prob = batch["log_prob"].clone().requires_grad_(True)
    loss, _ = compute_policy_loss_abc_grpo(batch["old_log_prob"], log_prob, batch["advantages"],
                                           batch["response_mask"], "token-sum", config)
    values, _ = reference_token_terms(batch["log_prob"], batch["old_log_prob"], batch["advantages"],
                                      batch["response_mask"], (0.25, 0.15, 0.25, 0.15))
    assert loss.item() == pytest.approx(reference_aggregate(values, batch["response_mask"], "token-sum")[0], rel=1e-9)


def test_metric_values_are_python_floats_collected_in_one_transfer(monkeypatch):
    calls = []
    original = torch.Tensor.tolist

    def counting_tolist(self):
        calls.append(self.shape)
        return original(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counting_tolist)
    monkeypatch.setattr(torch.Tensor, "item", lambda self: pytest.fail("the loss must not call .item()"))
    batch = random_batch(seed=2)
    config = make_actor_config()
    # real log-probs (<= 0): a positive one costs a second transfer, to name it in a warning
    log_prob = batch["log_prob"].clamp(max=0.0)
    _, metrics = compute_policy_loss_abc_grpo(batch["old_log_prob"], log_prob, batch["advantages"],
                                              batch["response_mask"], "token-mean", config)
    assert len(calls) == 1
    assert all(type(v) is float for v in metrics.values())
    quadrants = ("q1", "q2", "q3", "q4")
    assert set(metrics) == {"actor/pg_clipfrac", "actor/ppo_kl", "actor/pg_clipfrac_lower", "actor/abc_valid_tokens",
                            "actor/abc_positive_log_probs",
                            *(f"actor/abc_clipfrac_{q}" for q in quadrants),
                            *(f"actor/abc_clip_tokens_{q}" for q in quadrants),
                            *(f"actor/abc_band_eps{i}" for i in range(1, 5))}


def test_ppo_kl_is_the_masked_mean_of_old_minus_new_log_prob():
    batch = random_batch(seed=8, dtype=torch.float64)
    _, _, metrics = run_loss(batch, WIDTHS[0], "token-mean")
    mask = batch["response_mask"]
    rows = zip(batch["old_log_prob"].tolist(), batch["log_prob"].tolist(), mask.tolist(), strict=True)
    diffs = [o - n for o_row, n_row, m_row in rows for o, n, m in zip(o_row, n_row, m_row, strict=True) if m]
    assert metrics["actor/ppo_kl"] == pytest.approx(sum(diffs) / len(diffs), rel=1e-6)


def test_missing_config_is_an_error():
    batch = random_batch()
    with pytest.raises(ValueError, match="actor config"):
        compute_policy_loss_abc_grpo(batch["old_log_prob"], batch["log_prob"], batch["advantages"],
                                     batch["response_mask"], "token-mean", None)




@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.int64, torch.float32])
@pytest.mark.parametrize("ratio_level", ["token", "sequence"])
def test_inputs_are_left_untouched_and_every_mask_dtype_gives_the_same_result(mask_dtype, ratio_level):
    """The step works in place on its own buffers only; a float mask of the loss dtype must not become one of them."""
    batch = random_batch(seed=13, spread=1.0)
    widths = (math.inf, 1.0, 0.2, 0.3)  # asymmetric, and wide enough that the log-ratio limit is tracked
    expected = run_loss(batch, widths, "token-mean", ratio_level, use_weights=True)
    batch = dict(batch, response_mask=batch["response_mask"].to(mask_dtype))
    before = {key: value.clone() for key, value in batch.items()}
    loss, grad, metrics = run_loss(batch, widths, "token-mean", ratio_level, use_weights=True)
    for key, value in batch.items():
        assert torch.equal(value, before[key]), key
    assert torch.equal(loss, expected[0]) and torch.equal(grad, expected[1]) and metrics == expected[2]


@pytest.mark.slow
def test_counts_stay_exact_past_what_fp32_can_count():
    """fp32 stops counting at 2**24 (2**24 + 1 rounds back down); the quadrant and token counts must not."""
    shape = (2**12 + 1, 2**12)  # 2**24 + 4096 tokens in sequences of a realistic length
    old = torch.zeros(shape)
    log_prob = torch.full(shape, math.log(1.5))  # every token above the band
    advantages = torch.ones(shape)
    advantages[0, :3] = -1.0  # 3 tokens in Q4, the rest in Q1
    length = old.numel()
    config = make_actor_config(loss_agg_mode="token-sum")
    _, metrics = compute_policy_loss_abc_grpo(old, log_prob, advantages, torch.ones(shape, dtype=torch.bool),
                                              "token-sum", config)
    assert metrics["actor/abc_clipfrac_q4"] == 3 / length  # exact counts give exactly this quotient
    assert metrics["actor/abc_clipfrac_q1"] == (length - 3) / length
    assert metrics["actor/pg_clipfrac"] == 1.0


def test_transposed_inputs_give_the_contiguous_result():
    """Buffers follow their input's memory layout; the exact counts must not assume a contiguous one."""
    batch = random_batch(seed=14, spread=1.0)
    widths = (0.28, 0.1, 0.35, 0.3)
    expected = run_loss(batch, widths, "seq-mean-token-mean", use_weights=True)
    transposed = {key: value.t().contiguous().t() for key, value in batch.items()}
    assert not transposed["log_prob"].is_contiguous()
    loss, grad, metrics = run_loss(transposed, widths, "seq-mean-token-mean", use_weights=True)
    assert torch.equal(loss, expected[0]) and torch.equal(grad, expected[1]) and metrics == expected[2]


@pytest.mark.parametrize("ratio_level", ["token", "sequence"])
def test_beyond_the_log_ratio_limit_an_open_band_gives_a_finite_loss_and_no_gradient(ratio_level):
    """log r = 25 with the upper side open (PPO without dual clip, A < 0): the ratio stops at exp(20), as in verl's
    vanilla, and a token (or sequence) past that limit gets no gradient at either ratio level; one at log r = 5 does."""
    old = torch.zeros(2, 2, dtype=torch.float64)
    log_prob = torch.tensor([[25.0, 25.0], [5.0, 5.0]], dtype=torch.float64)
    batch = {"old_log_prob": old, "log_prob": log_prob, "advantages": -torch.ones(2, 2, dtype=torch.float64),
             "response_mask": torch.ones(2, 2, dtype=torch.bool), "weights": None}
    loss, grad, _ = run_loss(batch, (0.2, 1.0, math.inf, 0.2), "token-sum", ratio_level=ratio_level)
    assert loss.item() == pytest.approx(2 * math.exp(20) + 2 * math.exp(5))
    assert grad.tolist() == [[0.0, 0.0], [pytest.approx(math.exp(5)), pytest.approx(math.exp(5))]]


def test_the_loss_logs_the_band_it_clips_at():
    batch = random_batch(seed=3)
    config = make_actor_config(clip_pos_high=0.28, clip_pos_low=0.1, clip_neg_high=math.inf, clip_neg_low=0.15)
    _, metrics = compute_policy_loss_abc_grpo(batch["old_log_prob"], batch["log_prob"], batch["advantages"],
                                              batch["response_mask"], "token-mean", config)
    assert [metrics[f"actor/abc_band_eps{i}"] for i in range(1, 5)] == [0.28, 0.1, math.inf, 0.15]
    # null widths: the actor's clip_ratio_high / clip_ratio_low
    config = make_actor_config(clip_ratio_low=0.18, clip_ratio_high=0.3)
    _, metrics = compute_policy_loss_abc_grpo(batch["old_log_prob"], batch["log_prob"], batch["advantages"],
                                              batch["response_mask"], "token-mean", config)
    assert [metrics[f"actor/abc_band_eps{i}"] for i in range(1, 5)] == [0.3, 0.18, 0.3, 0.18]
