"""The launcher, a hydra app: hydra's flags, config files of the user's, the alias, the preflight and the dry run.

Most tests run the app in this process on a command line (``tests/hydra_apps.py``), with verl's ``run_ppo``
recorded instead of started: a valid config reaches it (the object the TaskRunner would receive), a bad one exits 2
before it, naming the key.
"""

import subprocess
import sys

import pytest
import ray
import torch

from abc_grpo_verl.train import main
from tests.hydra_apps import MICRO_BATCHES, run_app, write_dataset, write_user_configs

KEY = "actor_rollout_ref.actor.policy_loss"
BOUNDS = ("clip_pos_high", "clip_pos_low", "clip_neg_high", "clip_neg_low")


@pytest.fixture
def launch(tmp_path):
    def run(*argv, env=None):
        return run_app(main, [*argv, *MICRO_BATCHES], tmp_path / "run", env=env)

    return run


@pytest.fixture
def resources(tmp_path):
    """Overrides naming data files and a model directory that exist, as a dry run checks them."""
    train, val = write_dataset(tmp_path / "d" / "train.parquet"), write_dataset(tmp_path / "d" / "val.parquet")
    model = tmp_path / "Qwen3-8B"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return [f"data.train_files=[{train}]", f"data.val_files={val}", f"actor_rollout_ref.model.path={model}"]


def test_dry_run_prints_resolved_numbers_without_ray_or_gpu(launch, resources, tmp_path):
    result = launch(f"{KEY}.clip_neg_high=0.35", "actor_rollout_ref.actor.clip_ratio_low=0.1", *resources,
                    env={"ABC_GRPO_DRY_RUN": "1"})
    assert result.status == 0 and result.config is None, result.err
    values = result.essentials()
    assert values[f"{KEY}.loss_mode"] == "abc_grpo" and values["algorithm.adv_estimator"] == "abc_grpo"
    assert [values[f"{KEY}.{k}"] for k in BOUNDS] == ["0.2", "0.1", "0.35", "0.1"]
    assert values[f"{KEY}.ratio_level"] == "token"
    assert values["actor_rollout_ref.rollout.n"] == "8"
    assert values["actor_rollout_ref.model.path"] == str(tmp_path / "Qwen3-8B")
    assert values["data.train_files"] == f"['{tmp_path / 'd' / 'train.parquet'}']"
    assert values["actor_rollout_ref.actor.use_kl_loss"] == "False" and values["critic.enable"] == "False"
    assert "configuration is valid; not starting Ray" in result.out
    # the one-line summary, with the four bounds as numbers
    assert ("loss_mode=abc_grpo, clip_pos_high (eps1)=0.2, clip_pos_low (eps2)=0.1, clip_neg_high (eps3)=0.35, "
            "clip_neg_low (eps4)=0.1, ratio_level=token, adv_estimator=abc_grpo") in result.log
    assert not ray.is_initialized() and not torch.cuda.is_initialized()


def test_a_valid_config_reaches_run_ppo_with_the_alias_consumed(launch):
    result = launch("algorithm.policy_loss=vanilla", "algorithm.adv_estimator=grpo",
                    "actor_rollout_ref.actor.clip_ratio_c=1.2")
    assert result.status == 0, result.err
    policy_loss = result.config.actor_rollout_ref.actor.policy_loss
    assert policy_loss.loss_mode == "vanilla" and result.config.actor_rollout_ref.actor.clip_ratio_c == 1.2
    assert "policy_loss" not in result.config.algorithm  # verl's AlgoConfig would refuse it
    assert "loss_mode=vanilla (the ABC-GRPO bounds do not apply), adv_estimator=grpo" in result.log


def test_an_explicit_loss_mode_wins_over_the_unset_alias(launch):
    result = launch(f"{KEY}.loss_mode=vanilla", "algorithm.adv_estimator=grpo")
    assert result.status == 0, result.err
    assert result.config.actor_rollout_ref.actor.policy_loss.loss_mode == "vanilla"


@pytest.mark.parametrize(("argv", "message"), [
    ([f"{KEY}.clip_pos_low=0"], f"{KEY}.clip_pos_low=0 is invalid: eps2 must be in (0, 1]"),
    ([f"{KEY}.clip_neg_high=-1"], f"{KEY}.clip_neg_high=-1 is invalid: eps3 must be in (0, .inf]"),
    (["actor_rollout_ref.actor.clip_ratio_high=0"], "actor_rollout_ref.actor.clip_ratio_high=0 is invalid as the "
                                                    f"default of {KEY}.clip_pos_high"),
    (["actor_rollout_ref.rollout.n=1"],
     "actor_rollout_ref.rollout.n=1 is invalid with algorithm.adv_estimator=abc_grpo"),
    (["actor_rollout_ref.rollout.n=2.5"], "actor_rollout_ref.rollout.n=2.5 is invalid: the number of responses per "
                                          "prompt must be an integer >= 1"),
    (["critic.enable=true"], "critic.enable=True builds a critic"),
    (["algorithm.rollout_correction.bypass_mode=true", "trainer.use_v1=false"],
     "bypass_mode=true with trainer.use_v1=false replaces the policy loss"),
    (["algorithm.policy_loss=vanilla", f"{KEY}.ratio_level=sequence"], f"{KEY}.ratio_level=sequence only apply to"),
    (["algorithm.policy_loss=vanilla", f"{KEY}.clip_neg_high=0.2"], "only apply to"),
    (["algorithm.policy_loss=vanilla", f"{KEY}.loss_mode=abc_grpo"],
     f"algorithm.policy_loss=vanilla (from command line algorithm.policy_loss=vanilla) and {KEY}.loss_mode=abc_grpo "
     f"(from command line {KEY}.loss_mode=abc_grpo) disagree"),
    ([f"{KEY}.loss_mode=abc_gpro"], f"{KEY}.loss_mode='abc_gpro' is not a registered policy loss; valid: ["),
    (["algorithm.policy_loss=abc_gpro"], f"{KEY}.loss_mode='abc_gpro' is not a registered policy loss"),
    (["algorithm.adv_estimator=abc"], "algorithm.adv_estimator='abc' is not a registered advantage estimator"),
    (["+algorithm.policyloss=vanilla"], "algorithm.policyloss is not a key verl or abc_grpo_verl reads: did you mean "
                                        "algorithm.policy_loss?"),
    (["+algorithm.clip_neg_high=0.3"], f"algorithm.clip_neg_high=0.3 is misplaced: neither verl nor abc_grpo_verl "
                                       f"reads it there; it belongs in {KEY}.clip_neg_high"),
    (["+algorithm.clipNegHigh=0.3"], f"algorithm.clipNegHigh is not a key verl or abc_grpo_verl reads: did you "
                                     f"mean {KEY}.clip_neg_high?"),
    # any ignored key that asks for abc_grpo: the run would silently train something else
    (["algorithm.policy_loss=vanilla", "algorithm.adv_estimator=grpo", "+algorithm.loss_mode=abc_grpo"],
     "algorithm.loss_mode=abc_grpo is not a key verl or abc_grpo_verl reads, so the run would not use abc_grpo; "
     f"verl reads it as {KEY}.loss_mode; algorithm.policy_loss=abc_grpo turns it on"),
    (["+algorithm.policy_loss_fn=abc_grpo"], "algorithm.policy_loss_fn=abc_grpo is not a key verl or abc_grpo_verl "
                                             "reads, so the run would not use abc_grpo; did you mean "
                                             "algorithm.policy_loss?"),
    ([f"+{KEY}.clip_ng_high=0.3"],
     f"{KEY}.clip_ng_high is not a field of abc_grpo_verl.config.ABCPolicyLossConfig; did you mean "
     f"{KEY}.clip_neg_high?"),
    (["+ray_kwargs.ray_init.runtime_env.env_vars.ABC_GRPO_COMPILE=yes"],
     "ray_kwargs.ray_init.runtime_env.env_vars.ABC_GRPO_COMPILE='yes' is invalid: valid values are 0, 1, true, false"),
    (["+ray_kwargs.ray_init.runtime_env.env_vars.ABC_GRPO_COMPILE=1"],
     "ray_kwargs.ray_init.runtime_env.env_vars.ABC_GRPO_COMPILE=1 is of type int: Ray takes environment variables as "
     "strings only"),
    (["trainer.n_gpus_per_node=7"], "must be divisible"),  # verl's own validate_config
    # verl's validate_config divided by it (a hydra-wrapped ZeroDivisionError)
    (["trainer.n_gpus_per_node=0"], "trainer.n_gpus_per_node=0 is invalid: it must be an integer >= 1"),
    (["trainer.nnodes=-1"], "trainer.nnodes=-1 is invalid: it must be an integer >= 1"),
    (["actor_rollout_ref.actor.optim.lr=-1"], "actor_rollout_ref.actor.optim.lr=-1 is invalid: the learning rate "
                                              "must be a finite number >= 0"),
    (["actor_rollout_ref.actor.optim.lr=.inf"], "actor_rollout_ref.actor.optim.lr='.inf' is invalid"),
    # bool('false') is true in verl's estimators: a quoted string silently meant std scaling
    (["algorithm.norm_adv_by_std_in_grpo=maybe"], "algorithm.norm_adv_by_std_in_grpo='maybe' is a str: it must be "
                                                  "true or false"),
    (["algorithm.norm_adv_by_std_in_grpo='false'"], "algorithm.norm_adv_by_std_in_grpo='false' is a str"),
])
def test_misconfiguration_exits_2_before_ray_with_the_key_named(launch, argv, message):
    result = launch(*argv)
    assert (result.status, result.config) == (2, None)
    assert "abc_grpo_verl: configuration error" in result.err
    assert message in result.err


@pytest.mark.parametrize(("name", "value"), [("ABC_GRPO_COMPILE", "2"), ("ABC_GRPO_COMPILE", "yes"),
                                             ("ABC_GRPO_COMPILE", ""), ("ABC_GRPO_DRY_RUN", ""),
                                             ("ABC_GRPO_DRY_RUN", "on")])
def test_a_bad_environment_switch_fails_the_check(launch, name, value):
    result = launch(env={name: value})
    assert result.status == 2
    assert f"environment variable {name}={value!r} is invalid: valid values are 0, 1, true, false (any case)" in (
        result.err)


@pytest.mark.parametrize(("where", "name", "message"), [
    ("env", "ABC_GRPO_COMPLIE", "environment variable ABC_GRPO_COMPLIE is not a setting of abc_grpo_verl; did you mean "
                                "ABC_GRPO_COMPILE? Its settings are ABC_GRPO_COMPILE, ABC_GRPO_DRY_RUN, "
                                "ABC_GRPO_PREFLIGHT, ABC_GRPO_REWARD_WORKER_MEMORY_MB"),
    ("ray", "ABC_GRPO_REWARD_MEMORY_MB", "ray_kwargs.ray_init.runtime_env.env_vars.ABC_GRPO_REWARD_MEMORY_MB is not a "
                                         "setting of abc_grpo_verl; did you mean ABC_GRPO_REWARD_WORKER_MEMORY_MB?"),
    ("env", "ABC_GRPO_MY_OWN", "environment variable ABC_GRPO_MY_OWN is not a setting of abc_grpo_verl. Its settings"),
    ("env", "abc_grpo_compile", "environment variable abc_grpo_compile is not a setting of abc_grpo_verl; did you mean "
                                "ABC_GRPO_COMPILE?"),
])
def test_a_misspelt_setting_name_fails_the_check(launch, where, name, message):
    """A typo would leave the setting at its default without a word: the preflight names it, before Ray."""
    if where == "env":
        result = launch(env={name: "1"})
    else:
        result = launch(f"+ray_kwargs.ray_init.runtime_env.env_vars.{name}='1'")
    assert result.status == 2
    assert message in result.err


@pytest.mark.parametrize("value", ["lots", "64", "-1", ""])
def test_a_bad_reward_worker_memory_limit_fails_the_check(launch, value):
    """Read by the reward only when it first grades, after a rollout: checked here, in both places it can be set."""
    message = "is invalid: need a whole number of MiB, 0 (no limit) or at least 128"
    result = launch(env={"ABC_GRPO_REWARD_WORKER_MEMORY_MB": value})
    assert result.status == 2
    assert f"environment variable ABC_GRPO_REWARD_WORKER_MEMORY_MB={value!r} {message}" in result.err
    key = "ray_kwargs.ray_init.runtime_env.env_vars.ABC_GRPO_REWARD_WORKER_MEMORY_MB"
    result = launch(f"+{key}='{value}'")
    assert result.status == 2
    assert f"{key}={value!r} {message}" in result.err
    assert launch(env={"ABC_GRPO_REWARD_WORKER_MEMORY_MB": "0"}).status == 0


def test_hydra_rejects_unknown_keys_and_flags(launch):
    typo = launch(f"{KEY}.clip_neg_hgh=0.3")
    assert typo.status == 1 and f"Could not override '{KEY}.clip_neg_hgh'" in typo.err
    assert launch("--bogus").status == 2  # argparse, as for main_ppo


@pytest.mark.parametrize(("key", "hint"), [
    ("my_recipe_knob=3", " (other recipes may read their own keys there)"),
    ("adv_estimater=grpo", "; did you mean algorithm.adv_estimator?"),
    # verl reads a key of that name elsewhere: that place, never one of this package's keys
    ("loss_agg_mode=token-mean", "; verl reads it as actor_rollout_ref.actor.loss_agg_mode"),
    ("clip_ratio_high=0.28", "; verl reads it as actor_rollout_ref.actor.clip_ratio_high"),
    ("loss_mode=vanilla", f"; verl reads it as {KEY}.loss_mode"),
])
def test_other_keys_under_algorithm_are_a_warning_not_an_error(launch, key, hint):
    result = launch(f"+algorithm.{key}")
    assert result.status == 0 and result.config is not None, result.err
    name = key.split("=")[0]
    assert f"algorithm.{name} is not a field of verl's AlgoConfig, so verl ignores it{hint}\n" in result.log


@pytest.mark.parametrize(("key", "hint"), [
    ("clip_high=0.28", f"; did you mean {KEY}.clip_pos_high or {KEY}.clip_neg_high?"),
    ("clip_low=0.2", f"; did you mean {KEY}.clip_pos_low or {KEY}.clip_neg_low?"),
    ("clip_neg_hgh=0.3", f"; did you mean {KEY}.clip_neg_high?"),
    ("policy_loss_fn=vanilla", "; did you mean algorithm.policy_loss?"),
    ("ratio_levels=sequence", f"; did you mean {KEY}.ratio_level?"),
])
def test_a_misspelling_of_our_keys_fails_a_run_that_uses_abc_grpo(launch, key, hint):
    """The run would train at that setting's default without a word; a run without abc_grpo only warns (see
    tests/test_main_ppo.py)."""
    result = launch(f"+algorithm.{key}")
    assert (result.status, result.config) == (2, None)
    assert (f"algorithm.{key} is not a key verl or abc_grpo_verl reads, so this run, which uses abc_grpo, would "
            f"ignore it{hint}") in result.err


def test_a_misspelt_bound_under_another_loss_is_a_warning(launch):
    """With the abc_grpo estimator but verl's vanilla loss, no ABC bound is read: the hint, not an error."""
    result = launch(f"{KEY}.loss_mode=vanilla", "+algorithm.clip_neg_hgh=0.3")
    assert result.status == 0 and result.config is not None, result.err
    assert (f"algorithm.clip_neg_hgh is not a field of verl's AlgoConfig, so verl ignores it; did you mean "
            f"{KEY}.clip_neg_high?") in result.log


def test_bypass_mode_is_allowed_on_the_v1_trainer(launch):
    """The V1 trainer keeps abc_grpo and only uses the rollout log-probs as the old policy."""
    result = launch("algorithm.rollout_correction.bypass_mode=true")
    assert result.status == 0 and result.config.actor_rollout_ref.actor.policy_loss.loss_mode == "abc_grpo"


AGENT = "actor_rollout_ref.rollout.agent"


def test_multi_turn_with_verls_tool_agent_keeps_the_abc_grpo_estimator(launch):
    """verl's own agent loops return one output per session: grpo's session grouping changes nothing there."""
    result = launch("actor_rollout_ref.rollout.multi_turn.enable=true", f"{AGENT}.default_agent_loop=tool_agent")
    assert result.status == 0, result.err
    assert "agent loop" not in result.log


@pytest.mark.parametrize("override", [f"{AGENT}.default_agent_loop=my_agent",
                                      f"{AGENT}.agent_loop_config_path=/conf/agents.yaml",
                                      f"+{AGENT}.agent_loop_manager_class=my_pkg.Manager"])
def test_another_agent_loop_under_the_abc_grpo_estimator_is_a_notice(launch, override):
    result = launch(override)
    assert result.status == 0, result.err
    assert (f"algorithm.adv_estimator=abc_grpo with {override.lstrip('+')}: if an agent loop returns several outputs "
            "for one session, verl's V1 trainer scores the session as one group member only for "
            "algorithm.adv_estimator=grpo") in result.log
    assert "agent loop" not in launch(override, "algorithm.adv_estimator=grpo").log
    assert "agent loop" not in launch(override, "trainer.use_v1=false").log


def test_sequence_ratio_without_sequence_aggregation_is_a_notice(launch):
    assert f"{KEY}.ratio_level=sequence with" in launch(f"{KEY}.ratio_level=sequence").log
    assert "ratio_level=sequence with" not in launch(f"{KEY}.ratio_level=sequence",
                                                     "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean").log


ENV_VARS = "ray_kwargs.ray_init.runtime_env.env_vars"


@pytest.mark.parametrize(("argv", "env", "reason"), [
    ([], {"VERL_USE_EXTERNAL_PLUGINS": "none"}, "environment variable VERL_USE_EXTERNAL_PLUGINS=none turns verl's "
                                                "plugin entry points off"),
    ([f"+{ENV_VARS}.VERL_USE_EXTERNAL_PLUGINS=none"], {}, f"{ENV_VARS}.VERL_USE_EXTERNAL_PLUGINS=none turns"),
    ([f"+{ENV_VARS}.VERL_USE_EXTERNAL_PLUGINS=other_plugin"], {},
     f"{ENV_VARS}.VERL_USE_EXTERNAL_PLUGINS=other_plugin does not list this plugin's entry point (abc_grpo)"),
])
def test_ray_workers_that_would_not_load_the_plugin_are_an_error(launch, argv, env, reason):
    """The Ray workers of a cluster the run starts see the driver's environment plus runtime_env.env_vars; with the
    entry point off there and no VERL_USE_EXTERNAL_MODULES, they would fail with "Unsupported loss mode"."""
    plain = ["--config-path", "pkg://verl.trainer.config", "--config-name", "ppo_trainer",
             "algorithm.adv_estimator=grpo", "+algorithm.policy_loss=abc_grpo"]
    result = launch(*plain, *argv, env=env)
    assert result.status == 2, result.err
    assert (f"{KEY}.loss_mode=abc_grpo, but the Ray workers would not register abc_grpo: {reason}") in result.err
    assert f"add '+{ENV_VARS}.VERL_USE_EXTERNAL_MODULES=abc_grpo_verl.plugin'" in result.err
    # the fallback the message names works, and the packaged config carries it
    fixed = launch(*plain, *argv, f"+{ENV_VARS}.VERL_USE_EXTERNAL_MODULES=abc_grpo_verl.plugin", env=env)
    assert fixed.status == 0, fixed.err
    assert launch(*argv, env=env).status == 0
    # a cluster started elsewhere has its own nodes' environment: nothing to conclude from the driver's
    if env:
        assert launch(*plain, *argv, "+ray_kwargs.ray_init.address=auto", env=env).status == 0


def test_another_worker_module_may_register_abc_grpo(launch):
    result = launch(f"{ENV_VARS}.VERL_USE_EXTERNAL_MODULES=my_pkg", env={"VERL_USE_EXTERNAL_PLUGINS": "none"})
    assert result.status == 0, result.err
    assert ("environment variable VERL_USE_EXTERNAL_PLUGINS=none turns verl's plugin entry points off; the Ray "
            "workers import my_pkg (VERL_USE_EXTERNAL_MODULES), one of which must import abc_grpo_verl.plugin") in (
        result.log)


def test_a_loss_registered_only_in_the_ray_workers_is_a_notice(launch):
    result = launch("algorithm.policy_loss=my_loss", "algorithm.adv_estimator=grpo",
                    "ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES='abc_grpo_verl.plugin,my_pkg'")
    assert result.status == 0
    assert f"{KEY}.loss_mode='my_loss' is not a registered policy loss in this process; the Ray workers import " \
           "my_pkg" in result.log


def test_hydra_flags(launch):
    help_ = launch("--help")
    assert help_.status == 0 and "== Config ==" in help_.out and "loss_mode: abc_grpo" in help_.out
    job = launch("--cfg", "job")
    assert job.status == 0 and "adv_estimator: abc_grpo" in job.out and "policy_loss: null" in job.out
    info = launch("--info", "searchpath")
    assert info.status == 0 and "pkg://abc_grpo_verl.conf" in info.out and "pkg://verl.trainer.config" in info.out


def test_verls_own_config_by_package_path(launch):
    result = launch("--config-path", "pkg://verl.trainer.config", "--config-name", "ppo_trainer",
                    "algorithm.adv_estimator=grpo", "+algorithm.policy_loss=abc_grpo")
    assert result.status == 0, result.err
    assert result.config.actor_rollout_ref.actor.policy_loss.loss_mode == "abc_grpo"


@pytest.fixture
def user_configs(tmp_path):
    return write_user_configs(tmp_path / "conf")


@pytest.mark.parametrize("flags", [("--config-path", "--config-name"), ("-cp", "-cn")])
def test_a_user_yaml_extending_abc_grpo_trainer(launch, user_configs, flags):
    result = launch(flags[0], str(user_configs), flags[1], "extends_abc")
    assert result.status == 0, result.err
    policy_loss = result.config.actor_rollout_ref.actor.policy_loss
    assert (policy_loss.loss_mode, policy_loss.clip_neg_high, result.config.algorithm.adv_estimator) == (
        "abc_grpo", 0.28, "abc_grpo")


def test_a_user_yaml_extending_verls_ppo_trainer_with_the_alias(launch, user_configs):
    result = launch("-cp", str(user_configs), "-cn", "alias_in_yaml")
    assert result.status == 0, result.err
    assert result.config.actor_rollout_ref.actor.policy_loss.loss_mode == "abc_grpo"
    assert "policy_loss" not in result.config.algorithm


def test_a_conflict_inside_a_user_yaml_names_the_file(launch, user_configs):
    result = launch("-cp", str(user_configs), "-cn", "both_in_yaml")
    assert result.status == 2
    where = f"config file {user_configs}/both_in_yaml.yaml"
    assert f"algorithm.policy_loss=abc_grpo (from {where}) and {KEY}.loss_mode=vanilla (from {where}) disagree" in (
        result.err)


def test_a_bad_config_fails_before_ray_even_without_dry_run(launch):
    result = launch(f"{KEY}.clip_pos_low=2", env={"ABC_GRPO_DRY_RUN": None})
    assert (result.status, result.config) == (2, None)
    assert not ray.is_initialized()


def test_a_bug_in_the_checks_keeps_its_traceback(launch, monkeypatch):
    """Only configuration errors become the one line and exit 2; anything else is a bug, reported as hydra reports
    any exception of the app."""
    from abc_grpo_verl import validation

    def broken(config, use_critic=None):
        raise KeyError("a bug in the preflight")

    monkeypatch.setattr(validation, "preflight", broken)
    result = launch()
    assert result.status == 1 and "configuration error" not in result.err
    assert "Traceback" in result.err and "KeyError: 'a bug in the preflight'" in result.err


def test_an_error_of_the_run_itself_is_not_a_configuration_error(monkeypatch):
    """The same exception types out of the training run (a Ray task error is also an instance of its cause's type)
    are not reported as configuration errors: they propagate with their traceback."""
    import verl.trainer.main_ppo as main_ppo

    from abc_grpo_verl.train import run
    from tests.hydra_apps import compose

    def training(config, task_runner_class):
        raise ValueError("loss is nan at step 3")

    monkeypatch.setattr(main_ppo, "run_ppo", training)
    with pytest.raises(ValueError, match="loss is nan at step 3"):
        run(compose("abc_grpo_trainer", MICRO_BATCHES))


@pytest.mark.slow
@pytest.mark.parametrize("switch", [{}, {"ABC_GRPO_PREFLIGHT": "0"}])
def test_python_dash_m_entry_point(resources, tmp_path, switch):
    """As a user runs it; ABC_GRPO_PREFLIGHT=0 (plain verl's switch) does not turn the launcher's checks off."""
    result = subprocess.run([sys.executable, "-m", "abc_grpo_verl.train", *MICRO_BATCHES, *resources],
                            env={"ABC_GRPO_DRY_RUN": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **switch},
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "configuration is valid; not starting Ray" in result.stdout
    # hydra's own logging is on here: the summary line reaches the console
    assert "abc_grpo_verl checked the config: loss_mode=abc_grpo" in result.stdout


def test_grpo_with_one_response_per_prompt_is_a_warning(launch):
    """verl's grpo then uses each raw reward as its advantage: allowed, as verl allows it, but said."""
    result = launch("algorithm.adv_estimator=grpo", "actor_rollout_ref.rollout.n=1")
    assert result.status == 0 and result.config is not None
    assert ("actor_rollout_ref.rollout.n=1 with algorithm.adv_estimator=grpo: every group is a single response, so "
            "verl's grpo uses each raw reward as its advantage") in result.log
    assert "every group is a single response" not in launch("algorithm.adv_estimator=grpo").log


@pytest.mark.parametrize(("value", "message"), [
    ("3e-6", None),
    ("0", None),
    ("fast", "actor_rollout_ref.actor.optim.lr='fast' is invalid: the learning rate must be a finite number >= 0"),
    ("-1e-6", "actor_rollout_ref.actor.optim.lr='-1e-6' is invalid"),
    ("inf", "actor_rollout_ref.actor.optim.lr='inf' is invalid"),
])
def test_a_learning_rate_from_an_interpolation_is_read_as_the_number_it_spells(launch, value, message):
    """'${oc.env:LR}' is a string in the config, which verl's float field takes; abc runs refused it as not a number.
    A string that reads as a number is checked as that number."""
    result = launch("actor_rollout_ref.actor.optim.lr=${oc.env:LR}", env={"LR": value})
    if message is None:
        assert result.status == 0 and result.config is not None, result.err
    else:
        assert result.status == 2 and message in result.err


def test_a_bad_learning_rate_in_a_run_without_abc_grpo_is_a_warning(caplog):
    """The preflight never breaks a verl run that does not use abc_grpo: there the same finding is a warning."""
    from abc_grpo_verl.validation import preflight
    from tests.hydra_apps import compose

    config = compose("ppo_trainer", ["algorithm.adv_estimator=grpo", "actor_rollout_ref.actor.optim.lr=-1",
                                     "algorithm.norm_adv_by_std_in_grpo=maybe"])
    with caplog.at_level("WARNING", logger="abc_grpo_verl.validation"):
        preflight(config)
    assert "actor_rollout_ref.actor.optim.lr=-1 is invalid" in caplog.text
    assert "algorithm.norm_adv_by_std_in_grpo='maybe' is a str" in caplog.text
