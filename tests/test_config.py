"""Config: validation of the four widths, their defaults, and the packaged hydra config through verl's own code."""

import math

import pytest
from verl.utils.config import omega_conf_to_dataclass
from verl.workers.config import PolicyLossConfig

from abc_grpo_verl.config import ABCPolicyLossConfig, env_switch, resolve_bounds, resolve_ratio_level
from abc_grpo_verl.core import ClipBounds
from tests.hydra_apps import compose
from tests.support import make_actor_config

KEY = "actor_rollout_ref.actor.policy_loss"
# verl's own ppo_trainer defaults leave the micro-batch sizes unset, which its FSDPActorConfig rejects
MICRO_BATCHES = ["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
                 "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2"]


@pytest.mark.parametrize("field", ["clip_pos_high", "clip_pos_low", "clip_neg_high", "clip_neg_low"])
@pytest.mark.parametrize("bad", [-0.1, 0, 0.0, math.nan, "abc", True, [0.2]])
def test_bad_widths_are_rejected_naming_key_value_and_range(field, bad):
    with pytest.raises(ValueError) as error:
        ABCPolicyLossConfig(loss_mode="abc_grpo", **{field: bad})
    message = str(error.value)
    assert f"{KEY}.{field}={bad!r}" in message
    assert ("(0, 1]" if field.endswith("_low") else "(0, .inf]") in message


@pytest.mark.parametrize("field", ["clip_pos_low", "clip_neg_low"])
@pytest.mark.parametrize("bad", [1.01, 2, math.inf, ".inf"])
def test_low_widths_above_one_are_rejected(field, bad):
    with pytest.raises(ValueError, match=rf"{field}=.*\(0, 1\]"):
        ABCPolicyLossConfig(**{field: bad})


@pytest.mark.parametrize("spelling", [math.inf, ".inf", "inf", "+inf", "Infinity"])
def test_high_widths_accept_infinity(spelling):
    config = ABCPolicyLossConfig(clip_pos_high=spelling, clip_neg_high=spelling)
    assert config.clip_pos_high == math.inf and config.clip_neg_high == math.inf


def test_valid_widths_are_stored_as_floats():
    config = ABCPolicyLossConfig(clip_pos_high=1, clip_pos_low=1, clip_neg_high=0.35, clip_neg_low=0.05)
    assert (config.clip_pos_high, config.clip_pos_low, config.clip_neg_high, config.clip_neg_low) == (1.0, 1.0, 0.35,
                                                                                                      0.05)
    assert type(config.clip_pos_high) is float


def test_ratio_level_is_validated():
    assert ABCPolicyLossConfig(ratio_level="sequence").ratio_level == "sequence"
    expected = rf"{KEY}.ratio_level='seq' is invalid: must be one of \['token', 'sequence'\]"
    with pytest.raises(ValueError, match=expected):
        ABCPolicyLossConfig(ratio_level="seq")


def test_null_widths_default_to_the_actor_clip_ratios():
    config = make_actor_config(clip_ratio_low=0.1, clip_ratio_high=0.3, clip_neg_high=2.0)
    assert resolve_bounds(config) == ClipBounds(pos_high=0.3, pos_low=0.1, neg_high=2.0, neg_low=0.1)


def test_plain_policy_loss_config_takes_every_default():
    """loss_mode=abc_grpo in an existing verl config, without the _target_ override: the paper's 0.2 x 4."""
    config = make_actor_config()
    object.__setattr__(config, "policy_loss", PolicyLossConfig(loss_mode="abc_grpo"))
    assert resolve_bounds(config) == ClipBounds(0.2, 0.2, 0.2, 0.2)
    assert resolve_ratio_level(config) == "token"


def test_defaulted_width_out_of_range_names_the_actor_key():
    config = make_actor_config(clip_ratio_low=1.5)
    with pytest.raises(ValueError, match=r"actor_rollout_ref.actor.clip_ratio_low=1.5 is invalid as the default of "
                                         r"actor_rollout_ref.actor.policy_loss.clip_pos_low"):
        resolve_bounds(config)


def test_packaged_config_composes_and_converts_through_verl():
    cfg = compose("abc_grpo_trainer", [f"{KEY}.clip_neg_high=0.35", f"{KEY}.clip_pos_low=1",
                                       f"{KEY}.ratio_level=sequence", *MICRO_BATCHES])
    assert cfg.algorithm.adv_estimator == "abc_grpo" and cfg.algorithm.policy_loss is None
    assert cfg.actor_rollout_ref.actor.policy_loss.loss_mode == "abc_grpo"
    assert cfg.critic.enable is False and cfg.actor_rollout_ref.rollout.n == 8
    # the object verl's actor worker builds (engine_workers: omega_conf_to_dataclass(config.actor))
    actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
    assert isinstance(actor.policy_loss, ABCPolicyLossConfig)
    assert resolve_bounds(actor) == ClipBounds(pos_high=0.2, pos_low=1.0, neg_high=0.35, neg_low=0.2)
    assert actor.policy_loss.ratio_level == "sequence"


def test_bad_value_fails_when_verl_builds_the_actor_config():
    cfg = compose("abc_grpo_trainer", [f"{KEY}.clip_pos_low=1.5", *MICRO_BATCHES])
    with pytest.raises(Exception, match=rf"{KEY}.clip_pos_low=1.5 is invalid"):
        omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("1", True), ("true", True), ("FALSE", False),
                                                 ("True", True), (None, "default")])
def test_env_switch_reads_0_1_true_false_in_any_case(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("ABC_GRPO_TEST_SWITCH", raising=False)
    else:
        monkeypatch.setenv("ABC_GRPO_TEST_SWITCH", value)
    for default in (False, True):
        assert env_switch("ABC_GRPO_TEST_SWITCH", default) is (default if expected == "default" else expected)


@pytest.mark.parametrize("value", ["", " 1", "2", "yes", "on", "1.0", "none"])
def test_env_switch_refuses_anything_else_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("ABC_GRPO_TEST_SWITCH", value)
    with pytest.raises(ValueError) as error:
        env_switch("ABC_GRPO_TEST_SWITCH", True)
    assert str(error.value) == (f"environment variable ABC_GRPO_TEST_SWITCH={value!r} is invalid: valid values are "
                                "0, 1, true, false (any case), or unset for the default (1)")
