"""The baselines' ``abc_grpo_vanilla`` loss: verl's vanilla loss and gradient exactly, plus Q1..Q4 counts against a
reporting band, checked against token-by-token counts; the band's keys in the preflight and the dry run."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from verl.trainer.ppo.core_algos import POLICY_LOSS_REGISTRY, compute_policy_loss_vanilla

from abc_grpo_verl.baseline import NAME, compute_policy_loss_abc_grpo_vanilla
from abc_grpo_verl.config import REPORT_BAND_METRICS
from abc_grpo_verl.validation import ConfigError, preflight
from tests.hydra_apps import MICRO_BATCHES, compose
from tests.support import make_actor_config, random_batch

AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean")
GRPO = [*MICRO_BATCHES, "algorithm.adv_estimator=grpo"]
KEY = "actor_rollout_ref.actor.policy_loss"


def loss_and_grad(function, batch, loss_mode, agg, clip_ratio_c, weights, **band):
    log_prob = batch["log_prob"].clone().requires_grad_(True)
    config = make_actor_config(loss_mode=loss_mode, loss_agg_mode=agg, clip_ratio_c=clip_ratio_c, **band)
    config.global_batch_info.update(dp_size=1, batch_num_tokens=int(batch["response_mask"].sum()),
                                    global_batch_size=batch["response_mask"].shape[0])
    loss, metrics = function(old_log_prob=batch["old_log_prob"], log_prob=log_prob, advantages=batch["advantages"],
                             response_mask=batch["response_mask"], loss_agg_mode=agg, config=config,
                             rollout_is_weights=batch["weights"] if weights else None)
    loss.backward()
    return loss.detach(), log_prob.grad, metrics


def test_registered_with_verl():
    assert POLICY_LOSS_REGISTRY[NAME] is compute_policy_loss_abc_grpo_vanilla


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), spread=st.floats(0.05, 1.5), agg=st.sampled_from(AGG_MODES),
       clip_ratio_c=st.sampled_from([1.2, 3.0, 1e9]), weights=st.booleans(),
       band=st.sampled_from([{}, {"clip_pos_high": 0.28, "clip_neg_high": 0.1}, {"clip_pos_low": 1.0}]))
def test_loss_and_gradient_are_verls_vanilla(seed, spread, agg, clip_ratio_c, weights, band):
    """Whatever the reporting band, value and gradient equal verl's own vanilla function's, in float64."""
    batch = random_batch(seed=seed, spread=spread, dtype=torch.float64)
    ours = loss_and_grad(compute_policy_loss_abc_grpo_vanilla, batch, NAME, agg, clip_ratio_c, weights, **band)
    verls = loss_and_grad(compute_policy_loss_vanilla, batch, "vanilla", agg, clip_ratio_c, weights)
    assert abs(ours[0].item() - verls[0].item()) <= 1e-12
    assert torch.allclose(ours[1], verls[1], rtol=0, atol=1e-12)
    # verl's own metrics are kept as vanilla logs them: pg_clipfrac is still vanilla's Q1+Q3
    assert {key: ours[2][key] for key in verls[2]} == verls[2]


def count_by_hand(batch, eps):
    """Q1..Q4 and valid-token counts, token by token, from the definition (r = exp(log_prob - old))."""
    import math

    eps1, eps2, eps3, eps4 = eps
    counts, valid = [0, 0, 0, 0], 0
    rows = zip(batch["log_prob"].tolist(), batch["old_log_prob"].tolist(), batch["advantages"].tolist(),
               batch["response_mask"].tolist(), strict=True)
    for lp_row, old_row, adv_row, mask_row in rows:
        for lp, old, adv, valid_token in zip(lp_row, old_row, adv_row, mask_row, strict=True):
            if not valid_token:
                continue
            valid += 1
            r = math.exp(lp - old)
            counts[0] += adv > 0 and r > 1 + eps1
            counts[1] += adv > 0 and r < 1 - eps2
            counts[2] += adv < 0 and r < 1 - eps4
            counts[3] += adv < 0 and r > 1 + eps3
    return counts, valid


@pytest.mark.parametrize("band, eps", [({}, (0.2, 0.2, 0.2, 0.2)),
                                       ({"clip_pos_high": 0.28, "clip_pos_low": 0.1, "clip_neg_high": 0.5,
                                         "clip_neg_low": 0.3}, (0.28, 0.1, 0.5, 0.3))])
def test_quadrant_counts_against_the_reporting_band(band, eps):
    batch = random_batch(bs=8, length=12, seed=3, spread=0.4, dtype=torch.float64)
    _, _, metrics = loss_and_grad(compute_policy_loss_abc_grpo_vanilla, batch, NAME, "token-mean", 3.0, False, **band)
    counts, valid = count_by_hand(batch, eps)
    assert sum(counts) > 0 and counts[1] + counts[3] > 0  # the batch reaches the quadrants vanilla never clips
    assert metrics["actor/abc_valid_tokens"] == valid
    for q in range(4):
        assert metrics[f"actor/abc_clip_tokens_q{q + 1}"] == counts[q]
        assert metrics[f"actor/abc_clipfrac_q{q + 1}"] == pytest.approx(counts[q] / valid, abs=1e-15)
    assert [metrics[key] for key in REPORT_BAND_METRICS] == list(eps)


def test_a_sequence_ratio_level_is_refused():
    batch = random_batch(dtype=torch.float64)
    with pytest.raises(ValueError, match="ratio_level must be 'token' with loss_mode=abc_grpo_vanilla"):
        loss_and_grad(compute_policy_loss_abc_grpo_vanilla, batch, NAME, "token-mean", 3.0, False,
                      ratio_level="sequence")


def test_preflight_accepts_the_band_and_names_it():
    config = compose("abc_grpo_trainer", [*GRPO, f"{KEY}.loss_mode={NAME}", f"{KEY}.clip_neg_high=0.1"])
    checked = preflight(config)
    assert checked.loss_mode == NAME and checked.bounds["clip_neg_high"] == 0.1
    assert checked.bounds["clip_pos_high"] == 0.2  # null: the actor's clip_ratio_high
    assert ("loss_mode=abc_grpo_vanilla (verl's vanilla loss; quadrant metrics against clip_pos_high (eps1)=0.2, "
            "clip_pos_low (eps2)=0.2, clip_neg_high (eps3)=0.1") in checked.summary()


@pytest.mark.parametrize("override, message", [
    (f"{KEY}.clip_pos_low=1.5", f"{KEY}.clip_pos_low=1.5 is invalid: eps2 must be in (0, 1]"),
    (f"{KEY}.ratio_level=sequence", "verl's vanilla loss takes one ratio per token"),
    (f"+{KEY}.clip_neg_hihg=0.3", "did you mean actor_rollout_ref.actor.policy_loss.clip_neg_high?"),
])
def test_preflight_refuses_a_bad_band(override, message):
    config = compose("abc_grpo_trainer", [*GRPO, f"{KEY}.loss_mode={NAME}", override])
    with pytest.raises((ConfigError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace(".", r"\.")):
        preflight(config)


def test_legacy_trainer_bypass_mode_is_refused_as_for_abc_grpo():
    # the legacy trainer swaps the configured loss for verl's bypass_mode loss: the baseline's metrics would vanish
    bypass = ["algorithm.rollout_correction.bypass_mode=true", "trainer.use_v1=false"]
    config = compose("abc_grpo_trainer", [*GRPO, f"{KEY}.loss_mode={NAME}", *bypass])
    with pytest.raises(ConfigError, match=f"so {KEY}.loss_mode={NAME} would not run; set bypass_mode=false"):
        preflight(config)
    # the V1 trainer keeps the configured loss
    assert preflight(compose("abc_grpo_trainer", [*GRPO, f"{KEY}.loss_mode={NAME}", bypass[0]])).loss_mode == NAME


def test_workers_without_the_plugin_name_the_baseline_loss():
    off = "+ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_PLUGINS=none"
    config = compose("ppo_trainer", [*GRPO, f"{KEY}.loss_mode={NAME}", off])  # verl's: no worker module named
    with pytest.raises(ConfigError) as caught:
        preflight(config)
    message = str(caught.value)
    assert message.startswith(f"{KEY}.loss_mode={NAME}, but the Ray workers would not register {NAME}: ")
    assert "=abc_grpo " not in message and "abc_grpo," not in message
