"""Property tests (hypothesis): finiteness and the paper's per-token gradient bound |grad| <= |A| (1 + eps_high)."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_grpo_verl.algos import compute_policy_loss_abc_grpo
from tests.support import AGG_MODES, make_actor_config

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# the bound is exact in fp32; a bf16 gradient is the fp32 one rounded to 8 significant bits
ROUNDING = {"fp32": 1e-6, "bf16": 2.0**-7}

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


def run(batch, dtype, widths, mode="token-sum", ratio_level="token"):
    new, old, adv, mask = batch
    eps1, eps2, eps3, eps4 = widths
    config = make_actor_config(loss_agg_mode=mode, clip_pos_high=eps1, clip_pos_low=eps2, clip_neg_high=eps3,
                               clip_neg_low=eps4, ratio_level=ratio_level)
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
    assert all(math.isfinite(v) for v in metrics.values())
    # token-sum weights each token by 1, so grad is the per-token gradient d loss_t / d log pi_t
    eps_high = torch.where(adv > 0, widths[0], widths[2])
    bound = adv.abs() * (1 + eps_high) * (1 + ROUNDING[dtype])
    assert (grad.float().abs() <= bound + 1e-30).all()
    assert (grad[~mask] == 0).all()


@settings(max_examples=60, deadline=None)
@given(batch=batches(), dtype=st.sampled_from(sorted(DTYPES)), mode=st.sampled_from(AGG_MODES))
def test_all_masked_batch_has_zero_loss_and_no_nan(batch, dtype, mode):
    new, old, adv, mask = batch
    loss, grad, metrics = run((new, old, adv, torch.zeros_like(mask)), DTYPES[dtype], (0.2, 0.2, 0.2, 0.2), mode)
    assert loss.item() == 0.0
    assert not torch.isnan(grad).any() and (grad == 0).all()
    assert all(v == 0.0 for v in metrics.values())


@settings(max_examples=60, deadline=None)
@given(batch=batches(), dtype=st.sampled_from(sorted(DTYPES)), ratio_level=st.sampled_from(["token", "sequence"]))
def test_zero_advantage_gives_zero_loss_gradient_and_no_quadrant(batch, dtype, ratio_level):
    new, old, adv, mask = batch
    loss, grad, metrics = run((new, old, torch.zeros_like(adv), mask), DTYPES[dtype], (0.2, 0.2, 0.2, 0.2),
                              ratio_level=ratio_level)
    assert loss.item() == 0.0
    assert (grad == 0).all()
    assert metrics["actor/pg_clipfrac"] == 0.0
