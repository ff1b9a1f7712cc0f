"""The launcher's preflight and dry run: valid configs print resolved numbers and exit 0; bad ones exit 2, named."""

import subprocess
import sys

import pytest
import ray
import torch

from abc_grpo_verl.train import main

KEY = "actor_rollout_ref.actor.policy_loss"
MICRO_BATCHES = ["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
                 "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2"]


def essentials(stdout):
    """The `key = value` lines the launcher prints."""
    lines = [line.strip().split(" = ", 1) for line in stdout.splitlines() if " = " in line]
    return {key.strip(): value for key, value in lines}


@pytest.fixture
def dry_run(monkeypatch, capsys):
    monkeypatch.setenv("ABC_GRPO_DRY_RUN", "1")

    def run(*overrides):
        status = main([*MICRO_BATCHES, *overrides])
        out = capsys.readouterr()
        return status, essentials(out.out), out.err

    return run


def test_dry_run_prints_resolved_numbers_without_ray_or_gpu(dry_run):
    status, values, _ = dry_run(f"{KEY}.clip_neg_high=0.35", "actor_rollout_ref.actor.clip_ratio_low=0.1",
                                "actor_rollout_ref.model.path=/models/Qwen3-8B", "data.train_files=[/d/a.parquet]")
    assert status == 0
    assert values[f"{KEY}.loss_mode"] == "abc_grpo" and values["algorithm.adv_estimator"] == "abc_grpo"
    assert [values[f"{KEY}.{k}"] for k in ("clip_pos_high", "clip_pos_low", "clip_neg_high", "clip_neg_low")] == [
        "0.2", "0.1", "0.35", "0.1"]
    assert values[f"{KEY}.ratio_level"] == "token"
    assert values["actor_rollout_ref.rollout.n"] == "8"
    assert values["actor_rollout_ref.model.path"] == "/models/Qwen3-8B"
    assert values["data.train_files"] == "['/d/a.parquet']"
    assert values["actor_rollout_ref.actor.use_kl_loss"] == "False" and values["critic.enable"] == "False"
    assert not ray.is_initialized() and not torch.cuda.is_initialized()


def test_alias_selects_the_baseline(dry_run):
    status, values, _ = dry_run("algorithm.policy_loss=vanilla", "algorithm.adv_estimator=grpo",
                                "actor_rollout_ref.actor.clip_ratio_c=1.2")
    assert status == 0
    assert values[f"{KEY}.loss_mode"] == "vanilla" and values["actor_rollout_ref.actor.clip_ratio_c"] == "1.2"
    assert f"{KEY}.clip_pos_high" not in values


@pytest.mark.parametrize(("overrides", "message"), [
    ([f"{KEY}.clip_pos_low=0"], f"{KEY}.clip_pos_low=0 is invalid: eps2 must be in (0, 1]"),
    ([f"{KEY}.clip_neg_high=-1"], f"{KEY}.clip_neg_high=-1 is invalid: eps3 must be in (0, .inf]"),
    (["actor_rollout_ref.actor.clip_ratio_high=0"], "actor_rollout_ref.actor.clip_ratio_high=0 is invalid as the "
                                                    f"default of {KEY}.clip_pos_high"),
    ([f"{KEY}.clip_neg_hgh=0.3"], "Could not override 'actor_rollout_ref.actor.policy_loss.clip_neg_hgh'"),
    (["actor_rollout_ref.rollout.n=1"],
     "actor_rollout_ref.rollout.n=1 is invalid with algorithm.adv_estimator=abc_grpo"),
    (["critic.enable=true"], "critic.enable=True builds a critic"),
    (["algorithm.rollout_correction.bypass_mode=true", "trainer.use_v1=false"],
     "bypass_mode=true with trainer.use_v1=false replaces the policy loss"),
    (["actor_rollout_ref.rollout.multi_turn.enable=true"], "set algorithm.adv_estimator=grpo"),
    (["algorithm.policy_loss=vanilla", f"{KEY}.ratio_level=sequence"], f"{KEY}.ratio_level=sequence only apply to"),
    (["algorithm.policy_loss=vanilla", f"{KEY}.loss_mode=abc_grpo"], "disagree"),
    ([f"{KEY}.loss_mode=abc_gpro"], f"{KEY}.loss_mode='abc_gpro' is not a registered policy loss"),
    (["algorithm.adv_estimator=abc"], "algorithm.adv_estimator='abc' is not a registered advantage estimator"),
    (["algorithm.policy_loss=vanilla", f"{KEY}.clip_neg_high=0.2"], "only apply to"),
    (["trainer.n_gpus_per_node=7"], "must be divisible"),  # verl's own validate_config
    (["--bogus"], "unknown option"),
])
def test_misconfiguration_exits_2_with_the_key_named(dry_run, overrides, message):
    status, _, err = dry_run(*overrides)
    assert status == 2
    assert "abc_grpo_verl: configuration error" in err
    assert message in err


def test_bypass_mode_is_allowed_on_the_v1_trainer(dry_run):
    """The V1 trainer keeps abc_grpo and only uses the rollout log-probs as the old policy."""
    status, values, _ = dry_run("algorithm.rollout_correction.bypass_mode=true")
    assert status == 0 and values[f"{KEY}.loss_mode"] == "abc_grpo"


def test_sequence_ratio_without_sequence_aggregation_is_a_notice(monkeypatch, capsys):
    monkeypatch.setenv("ABC_GRPO_DRY_RUN", "1")
    assert main([*MICRO_BATCHES, f"{KEY}.ratio_level=sequence"]) == 0
    assert "NOTICE: actor_rollout_ref.actor.policy_loss.ratio_level=sequence" in capsys.readouterr().out
    assert main([*MICRO_BATCHES, f"{KEY}.ratio_level=sequence",
                 "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean"]) == 0
    assert "NOTICE" not in capsys.readouterr().out


def test_a_bad_config_fails_before_ray_even_without_dry_run(monkeypatch, capsys):
    monkeypatch.delenv("ABC_GRPO_DRY_RUN", raising=False)
    assert main([*MICRO_BATCHES, f"{KEY}.clip_pos_low=2"]) == 2
    assert not ray.is_initialized()


def test_registry_check_names_the_fallback(dry_run, monkeypatch):
    from verl.trainer.ppo import core_algos

    monkeypatch.delitem(core_algos.ADV_ESTIMATOR_REGISTRY, "abc_grpo")
    status, _, err = dry_run()
    assert status == 2 and "VERL_USE_EXTERNAL_MODULES=abc_grpo_verl.plugin" in err


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "abc_grpo_verl.train", *MICRO_BATCHES],
                            env={"ABC_GRPO_DRY_RUN": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "configuration is valid; not starting Ray" in result.stdout
