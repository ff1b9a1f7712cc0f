"""Property tests (hypothesis): finiteness and the paper's per-token gradient bound |grad| <= |A| (1 + eps_high)."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_grpo_verl.algos import compute_policy_loss_abc_grpo
from tests.support import AGG_MODES, make_actor_config

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# the bound is exact in fp32; a bf16 (fp16) gradient is the fp32 one rounded to 8 (11) significant bits
ROUNDING = {"fp32": 1e-6, "bf16": 2.0**-7, "fp16": 2.0**-10}

log_probs = st.floats(min_value=-1e4, max_value=0.0, allow_nan=False)
advantage = st.one_of(st.just(0.0), st.floats(min_value=-50.0, max_value=50.0, allow_nan=False))
high_width = st.floats(min_value=1e-3, max_value=5.0)
low_width = st.floats(min_value=1e-3, max_value=1.0)


@st.composite
def batches(draw):
    bs, length = draw(st.integers(1, 4)), draw(st.integers(1, 8))
    cells = bs * length
    new = draw(st.lists(log_probs, min_size=cells, max_size=cells))
    old = draw(st.lists(log_probs, min_size=cells, max_size=cells))
    adv = draw(st.lists(advantage, min_size=bs, max_size=bs))
    mask = draw(st.lists(st.booleans(), min_size=cells, max_size=cells))
    return (torch.tensor(new).view(bs, length), torch.tensor(old).view(bs, length),
            torch.tensor(adv).view(bs, 1).expand(bs, length).clone(), torch.tensor(mask).view(bs, length))


def run(batch, dtype, widths, mode="token-sum", ratio_level="token", global_batch_info=None):
    new, old, adv, mask = batch
    eps1, eps2, eps3, eps4 = widths
    config = make_actor_config(loss_agg_mode=mode, clip_pos_high=eps1, clip_pos_low=eps2, clip_neg_high=eps3,
                               clip_neg_low=eps4, ratio_level=ratio_level)
    config.global_batch_info.update(global_batch_info or {})
    log_prob = new.to(dtype).requires_grad_(True)
    loss, metrics = compute_policy_loss_abc_grpo(old.to(dtype), log_prob, adv.to(dtype), mask, mode, config)
    loss.backward()
    return loss, log_prob.grad, metrics


@settings(max_examples=150, deadline=None)
@given(batch=batches(), dtype=st.sampled_from(sorted(DTYPES)), widths=st.tuples(high_width, low_width, high_width,
       low_width), ratio_level=st.sampled_from(["token", "sequence"]))
def test_loss_finite_and_token_gradient_bounded(batch, dtype, widths, ratio_level):
    loss, grad, metrics = run(batch, DTYPES[dtype], widths, ratio_level=ratio_level)
    _, _, adv, mask = batch
    assert math.isfinite(loss.item())
    assert torch.isfinite(grad).all()
    assert all(math.isfinite(v) for key, v in metrics.items() if "_band_" not in key)  # a width may be inf
    # token-sum weights each token by 1, so grad is the per-token gradient d loss_t / d log pi_t
    eps_high = torch.where(adv > 0, widths[0], widths[2])
    bound = adv.abs() * (1 + eps_high) * (1 + ROUNDING[dtype])
    assert (grad.float().abs() <= bound + 1e-30).all()
    assert (grad[~mask] == 0).all()


@settings(max_examples=60, deadline=None)
@given(batch=batches(), dtype=st.sampled_from(sorted(DTYPES)), mode=st.sampled_from(AGG_MODES))
def test_all_masked_batch_has_zero_loss_and_no_nan(batch, dtype, mode):
    """With the global counts verl's ppo_loss always passes (without them verl's agg_loss gives 0/0: see test_loss)."""
    new, old, adv, mask = batch
    loss, grad, metrics = run((new, old, adv, torch.zeros_like(mask)), DTYPES[dtype], (0.2, 0.2, 0.2, 0.2), mode,
                              global_batch_info={"dp_size": 1, "batch_num_tokens": 50, "global_batch_size": 5})
    assert loss.item() == 0.0
    assert not torch.isnan(grad).any() and (grad == 0).all()
    assert all(v == 0.0 for key, v in metrics.items() if "_band_" not in key)


@settings(max_examples=60, deadline=None)
@given(batch=batches(), dtype=st.sampled_from(sorted(DTYPES)), ratio_level=st.sampled_from(["token", "sequence"]))
def test_zero_advantage_gives_zero_loss_gradient_and_no_quadrant(batch, dtype, ratio_level):
    new, old, adv, mask = batch
    loss, grad, metrics = run((new, old, torch.zeros_like(adv), mask), DTYPES[dtype], (0.2, 0.2, 0.2, 0.2),
                              ratio_level=ratio_level)
    assert loss.item() == 0.0
    assert (grad == 0).all()
    assert metrics["actor/pg_clipfrac"] == 0.0


non_finite = st.sampled_from([math.nan, math.inf, -math.inf])


@settings(max_examples=100, deadline=None)
@given(batch=batches(), dtype=st.sampled_from(sorted(DTYPES)), mode=st.sampled_from(AGG_MODES),
       ratio_level=st.sampled_from(["token", "sequence"]), junk=st.tuples(non_finite, non_finite, non_finite),
       use_weights=st.booleans())
def test_non_finite_padding_reaches_neither_loss_nor_gradient(batch, dtype, mode, ratio_level, junk, use_weights):
    """nan/inf at masked positions (padding) leave the loss, gradient and metrics exactly as zeros there would."""
    new, old, adv, mask = batch
    widths = (0.2, 0.2, 0.2, 0.2)
    info = {"dp_size": 1, "batch_num_tokens": 50, "global_batch_size": 5}
    weights = torch.rand(new.shape, generator=torch.Generator().manual_seed(0)) + 0.5 if use_weights else None
    clean = run_with_weights((new.masked_fill(~mask, 0.0), old.masked_fill(~mask, 0.0), adv.masked_fill(~mask, 0.0),
                              mask), DTYPES[dtype], widths, mode, ratio_level, info, weights)
    dirty_weights = weights.masked_fill(~mask, junk[0]) if use_weights else None
    dirty = run_with_weights((new.masked_fill(~mask, junk[0]), old.masked_fill(~mask, junk[1]),
                              adv.masked_fill(~mask, junk[2]), mask), DTYPES[dtype], widths, mode, ratio_level, info,
                             dirty_weights)
    assert torch.equal(dirty[0], clean[0]) and math.isfinite(dirty[0].item())
    assert torch.equal(dirty[1], clean[1]) and (dirty[1][~mask] == 0).all()
    assert dirty[2] == clean[2]


def run_with_weights(batch, dtype, widths, mode, ratio_level, info, weights):
    new, old, adv, mask = batch
    eps1, eps2, eps3, eps4 = widths
    config = make_actor_config(loss_agg_mode=mode, clip_pos_high=eps1, clip_pos_low=eps2, clip_neg_high=eps3,
                               clip_neg_low=eps4, ratio_level=ratio_level)
    config.global_batch_info.update(info)
    log_prob = new.to(dtype).requires_grad_(True)
    loss, metrics = compute_policy_loss_abc_grpo(old.to(dtype), log_prob, adv.to(dtype), mask, mode, config,
                                                 rollout_is_weights=weights.to(dtype) if weights is not None else None)
    loss.backward()
    return loss.detach(), log_prob.grad, metrics


@settings(max_examples=100, deadline=None)
@given(batch=batches(), widths=st.tuples(st.one_of(high_width, st.just(math.inf)), low_width,
                                         st.one_of(high_width, st.just(math.inf)), low_width),
       mode=st.sampled_from(AGG_MODES))
def test_fp16_inputs_are_computed_in_fp32(batch, widths, mode):
    """fp16 log-probs: loss in fp32, equal to the fp32 computation on the same (fp16-representable) values, and a
    gradient that is the fp32 gradient rounded to fp16 (finite wherever that one fits fp16's range)."""
    new, old, adv, mask = (t.to(torch.float16).float() if t.is_floating_point() else t for t in batch)
    info = {"dp_size": 1, "batch_num_tokens": 50, "global_batch_size": 5}
    half = run_with_weights((new, old, adv, mask), torch.float16, widths, mode, "token", info, None)
    full = run_with_weights((new, old, adv, mask), torch.float32, widths, mode, "token", info, None)
    assert half[0].dtype == torch.float32
    torch.testing.assert_close(half[0], full[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(half[1], full[1].to(torch.float16), rtol=0, atol=0)
    assert half[2] == full[2]
