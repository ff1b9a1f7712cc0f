"""Plain ``python -m verl.trainer.main_ppo`` with the package installed: one key turns ABC-GRPO on, safely.

verl's main_ppo passes its composed config to ``validate_config`` on the driver and then, the same object, to
``run_ppo`` (Ray, the TaskRunner). The plugin's wrapper around ``validate_config`` checks and normalises it there.

- The table of issue #16 (the ways a user sets the key) runs in a fresh interpreter, through main_ppo's own
  ``main`` with ``run_ppo`` recorded: each row either reaches ``run_ppo`` with ``loss_mode=abc_grpo`` or fails before
  it with the keys named.
- One run goes all the way through ``python -m verl.trainer.main_ppo``, Ray and the TaskRunner, which prints the
  config it received (then stops at the model, which does not exist): the recorded object is what workers read.
- The finer cases run main_ppo's ``main`` in this process (``tests/hydra_apps.py``).
"""

import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import verl.trainer.main_ppo as main_ppo
from omegaconf import OmegaConf
from verl.utils.config import omega_conf_to_dataclass
from verl.workers.config import PolicyLossConfig

from abc_grpo_verl.validation import VERL_AGENT_LOOPS, ConfigError, preflight
from tests.hydra_apps import MICRO_BATCHES, compose, run_app, write_dataset, write_user_configs

ROOT = Path(__file__).resolve().parents[1]
KEY = "actor_rollout_ref.actor.policy_loss"
# verl's GRPO example reduced to what composes on CPU: no critic, micro-batches set
GRPO = [*MICRO_BATCHES, "algorithm.adv_estimator=grpo"]


@pytest.fixture(scope="module")
def user_configs(tmp_path_factory):
    return write_user_configs(tmp_path_factory.mktemp("conf"))


DRIVER = """
import contextlib, io, json, sys
import verl.trainer.main_ppo as main_ppo

results = []
for argv in json.loads(sys.argv[1]):
    received = []
    main_ppo.run_ppo = lambda config, task_runner_class: received.append(config)
    out, err, status = io.StringIO(), io.StringIO(), 0
    sys.argv = ["main_ppo", *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main_ppo.main()
        except SystemExit as exit_:
            status = exit_.code
    config = received[0] if received else None
    results.append({"status": status, "out": out.getvalue(), "err": err.getvalue(),
                    "loss_mode": config.actor_rollout_ref.actor.policy_loss.loss_mode if config else None,
                    "algorithm": sorted(config.algorithm) if config else None})
print("RESULTS " + json.dumps(results))
"""


@pytest.mark.slow
def test_every_way_of_setting_the_key_in_a_fresh_process(user_configs, tmp_path):
    rows = {
        "command line, no +": ["algorithm.policy_loss=abc_grpo", *GRPO],
        "command line, +": ["+algorithm.policy_loss=abc_grpo", *GRPO],
        "user yaml": ["-cp", str(user_configs), "-cn", "alias_in_yaml", *GRPO],
        "user yaml with both": ["-cp", str(user_configs), "-cn", "both_in_yaml", *GRPO],
        "typo": [f"{KEY}.loss_mode=abc_grp0", *GRPO],
        # the packaged config found by name through the hydra search-path plugin, from a yaml of the user's
        "user yaml extending ours": ["-cp", str(user_configs), "-cn", "extends_abc", *MICRO_BATCHES],
    }
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ABC_GRPO_", "VERL_USE_EXTERNAL"))}
    result = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(list(rows.values()))], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = dict(zip(rows, json.loads(result.stdout.split("RESULTS ", 1)[1]), strict=True))

    # hydra refuses a key the config does not declare, before any of verl's code, and says what to type
    assert outcome["command line, no +"]["status"] == 1
    assert "To append to your config use +algorithm.policy_loss=abc_grpo" in outcome["command line, no +"]["err"]
    for row in ("command line, +", "user yaml"):
        assert outcome[row]["status"] == 0, outcome[row]["err"][-2000:]
        assert outcome[row]["loss_mode"] == "abc_grpo"
        assert "policy_loss" not in outcome[row]["algorithm"]  # verl's AlgoConfig never sees the alias
        assert "abc_grpo_verl checked the config: loss_mode=abc_grpo, clip_pos_high (eps1)=0.2" in outcome[row]["out"]
    both = outcome["user yaml with both"]
    where = f"config file {user_configs}/both_in_yaml.yaml"
    assert both["status"] == 1 and both["loss_mode"] is None
    assert f"algorithm.policy_loss=abc_grpo (from {where}) and {KEY}.loss_mode=vanilla (from {where}) disagree" in (
        both["err"])
    typo = outcome["typo"]
    assert typo["status"] == 1 and typo["loss_mode"] is None
    assert f"{KEY}.loss_mode='abc_grp0' is not a registered policy loss; valid: [" in typo["err"]
    assert "'abc_grpo'" in typo["err"] and "'vanilla'" in typo["err"]
    ours = outcome["user yaml extending ours"]
    assert ours["status"] == 0 and ours["loss_mode"] == "abc_grpo", ours["err"][-2000:]
    assert ("loss_mode=abc_grpo, clip_pos_high (eps1)=0.2, clip_pos_low (eps2)=0.2, clip_neg_high (eps3)=0.28, "
            "clip_neg_low (eps4)=0.2, ratio_level=token, adv_estimator=abc_grpo") in ours["out"]


@pytest.mark.slow
def test_with_the_preflight_off_what_needs_it_is_refused_not_ignored(tmp_path):
    """ABC_GRPO_PREFLIGHT=0 with ABC_GRPO_DRY_RUN=1 started Ray and trained; with the alias it trained vanilla, both
    without a word. Now both are errors before Ray; a run asking for neither reaches verl's run_ppo unchecked."""
    rows = {"dry run": GRPO, "alias": ["+algorithm.policy_loss=abc_grpo", *GRPO], "neither": GRPO}
    outcome = {}
    for name, argv in rows.items():
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("ABC_GRPO_", "VERL_USE_EXTERNAL"))}
        environment["ABC_GRPO_PREFLIGHT"] = "0"
        if name == "dry run":
            environment["ABC_GRPO_DRY_RUN"] = "1"
        result = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([argv])], capture_output=True, text=True,
                                timeout=300, cwd=tmp_path, env=environment)
        assert result.returncode == 0, result.stderr[-3000:]
        outcome[name] = json.loads(result.stdout.split("RESULTS ", 1)[1])[0]
    prefix = "environment variable ABC_GRPO_PREFLIGHT=0 turns the abc_grpo_verl preflight off, but "
    assert outcome["dry run"]["status"] == 1 and outcome["dry run"]["loss_mode"] is None
    assert prefix + "environment variable ABC_GRPO_DRY_RUN=1 needs it; unset ABC_GRPO_PREFLIGHT" in (
        outcome["dry run"]["err"])
    assert outcome["alias"]["status"] == 1 and outcome["alias"]["loss_mode"] is None
    alias = f"algorithm.policy_loss=abc_grpo (set {KEY}.loss_mode instead, which verl reads itself) needs it"
    assert prefix + alias in outcome["alias"]["err"]
    assert outcome["neither"]["status"] == 0 and outcome["neither"]["loss_mode"] == "vanilla"
    assert "abc_grpo_verl checked the config" not in outcome["neither"]["out"]


@pytest.mark.slow
def test_the_taskrunner_receives_the_mapped_config(user_configs, tmp_path):
    """`python -m verl.trainer.main_ppo` as a user types it: Ray starts, verl's TaskRunner prints its config."""
    if importlib.util.find_spec("transfer_queue") is None:
        pytest.skip("verl's V1 TaskRunner imports transfer_queue before anything else, and this environment lacks "
                    "it: install TransferQueue (a dependency of verl 0.9.1's verl-core extra and of verl main)")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ABC_GRPO_", "VERL_USE_EXTERNAL"))}
    result = subprocess.run(
        [sys.executable, "-m", "verl.trainer.main_ppo", "-cp", str(user_configs), "-cn", "alias_in_yaml", *GRPO,
         f"actor_rollout_ref.model.path={tmp_path / 'no-model'}", "ray_kwargs.ray_init.num_cpus=32",
         "+ray_kwargs.ray_init.include_dashboard=false"],
        capture_output=True, text=True, timeout=400, cwd=tmp_path,
        env={**environment, "RAY_DISABLE_USAGE_STATS": "1"},
    )
    output = result.stdout + result.stderr
    runner = [line for line in output.splitlines() if "TaskRunner" in line and "pid=" in line]
    assert any("'loss_mode': 'abc_grpo'" in line for line in runner), output[-5000:]
    assert not any("'policy_loss': 'abc_grpo'" in line for line in runner)  # gone from algorithm
    assert "abc_grpo_verl checked the config: loss_mode=abc_grpo" in output
    assert result.returncode != 0  # no model, no GPU: it stops inside the TaskRunner


def test_which_of_verls_rl_entry_points_run_the_preflight():
    """The README's list of covered entry points, read from verl's code (a failure here means the list is stale)."""
    import verl.experimental.fully_async_policy.fully_async_main as fully_async
    import verl.experimental.one_step_off_policy.main_ppo as one_step_off

    # both bind the plugin's wrapper: main_ppo calls it on the driver before run_ppo, one_step_off_policy inside its
    # Ray TaskRunner (after Ray started)
    assert main_ppo.validate_config.abc_grpo_verl_preflight and one_step_off.validate_config.abc_grpo_verl_preflight
    assert "validate_config(" in inspect.getsource(main_ppo.main.__wrapped__)
    assert "validate_config(" in inspect.getsource(one_step_off.OneStepTaskRunner.__ray_actor_class__.run)
    assert "validate_config(" not in inspect.getsource(one_step_off.main.__wrapped__)
    # fully_async_policy never calls it: no alias mapping, no check
    assert "validate_config" not in inspect.getsource(fully_async)


IN_A_RAY_ACTOR = """
import sys
from pathlib import Path

import ray

from tests.hydra_apps import MICRO_BATCHES, compose, write_dataset

tmp = Path(sys.argv[1])
files = [write_dataset(tmp / name) for name in ("train.parquet", "val.parquet")]
(tmp / "model").mkdir()
(tmp / "model" / "config.json").write_text("{}")
config = compose("abc_grpo_trainer", [*MICRO_BATCHES, f"data.train_files={files[0]}", f"data.val_files={files[1]}",
                                      f"actor_rollout_ref.model.path={tmp / 'model'}"])
ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"ABC_GRPO_DRY_RUN": "1"}})


@ray.remote
class TaskRunner:
    # as verl.experimental.one_step_off_policy's OneStepTaskRunner.run: validate_config inside the actor
    def run(self, config):
        from verl.utils.config import validate_config

        validate_config(config=config, use_reference_policy=False, use_critic=False)
        return "trained"

    def alive(self):
        return True


runner = TaskRunner.remote()
try:
    print("RESULT", ray.get(runner.run.remote(config)))
except Exception as error:
    print("RESULT", type(error).__name__, str(error).replace(chr(10), " "))
print("ALIVE", ray.get(runner.alive.remote()))
ray.shutdown()
"""


@pytest.mark.slow
def test_the_dry_run_inside_a_ray_actor_ends_the_run_without_exiting_the_actor(tmp_path):
    """Where the config is checked inside a Ray actor, the dry run cannot stop before Ray: it ends the run with an
    error that says so, neither training nor calling sys.exit inside the actor."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ABC_GRPO_", "VERL_USE_EXTERNAL"))}
    result = subprocess.run([sys.executable, "-c", IN_A_RAY_ACTOR, str(tmp_path)], capture_output=True, text=True,
                            timeout=300, cwd=ROOT, env={**environment, "RAY_DISABLE_USAGE_STATS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith(("RESULT", "ALIVE"))]
    assert lines[0].startswith("RESULT RayTaskError"), result.stdout[-3000:]
    assert ("ABC_GRPO_DRY_RUN=1: the configuration is valid (the essentials are printed above), but this entry point "
            "checks it inside a Ray worker, after Ray started") in lines[0]
    assert lines[1] == "ALIVE True"


@pytest.fixture
def main_ppo_run(tmp_path):
    def run(*argv, env=None):
        return run_app(main_ppo.main, [*argv, *GRPO], tmp_path / "run", env=env)

    return run


@pytest.mark.parametrize("target", [[], [f"{KEY}._target_=verl.workers.config.actor.PolicyLossConfig"]])
def test_abc_keys_under_verls_own_policy_loss_class(main_ppo_run, target):
    """verl's class however its module path is spelt: the class hydra resolves is what counts."""
    result = main_ppo_run("+algorithm.policy_loss=abc_grpo", f"+{KEY}.clip_neg_high=0.28", f"+{KEY}.clip_pos_low=1",
                          *target)
    assert result.status == 0, result.err
    policy_loss = result.config.actor_rollout_ref.actor.policy_loss
    assert policy_loss._target_ == "abc_grpo_verl.config.ABCPolicyLossConfig"  # the subclass that declares them
    assert (policy_loss.clip_neg_high, policy_loss.clip_pos_low) == (0.28, 1)
    assert ("loss_mode=abc_grpo, clip_pos_high (eps1)=0.2, clip_pos_low (eps2)=1.0, clip_neg_high (eps3)=0.28, "
            "clip_neg_low (eps4)=0.2, ratio_level=token, adv_estimator=grpo") in result.log


def test_a_policy_loss_class_that_does_not_import_is_named(main_ppo_run):
    result = main_ppo_run(f"{KEY}._target_=verl.workers.config.NoSuchConfig")
    assert result.status == 1 and result.config is None
    assert f"{KEY}._target_=verl.workers.config.NoSuchConfig cannot be imported" in result.err


@pytest.mark.parametrize(("argv", "origins"), [
    (["-cn", "vanilla_in_yaml", "+algorithm.policy_loss=abc_grpo"],
     ("command line +algorithm.policy_loss=abc_grpo", "config file {conf}/vanilla_in_yaml.yaml")),
    (["-cn", "alias_in_yaml", f"{KEY}.loss_mode=vanilla"],
     ("config file {conf}/alias_in_yaml.yaml", f"command line {KEY}.loss_mode=vanilla")),
    (["+algorithm.policy_loss=abc_grpo", f"{KEY}.loss_mode=vanilla"],
     ("command line +algorithm.policy_loss=abc_grpo", f"command line {KEY}.loss_mode=vanilla")),
])
def test_a_disagreement_is_an_error_wherever_each_key_was_set(main_ppo_run, user_configs, argv, origins):
    argv = ["-cp", str(user_configs), *argv] if "-cn" in argv else argv
    result = main_ppo_run(*argv)
    alias, native = (origin.format(conf=user_configs) for origin in origins)
    assert result.status == 1 and result.config is None
    assert f"algorithm.policy_loss=abc_grpo (from {alias}) and {KEY}.loss_mode=vanilla (from {native}) disagree" in (
        result.err)


def test_the_same_value_twice_is_fine(main_ppo_run):
    result = main_ppo_run("+algorithm.policy_loss=abc_grpo", f"{KEY}.loss_mode=abc_grpo")
    assert result.status == 0 and result.config.actor_rollout_ref.actor.policy_loss.loss_mode == "abc_grpo"


@pytest.mark.parametrize(("argv", "message"), [
    (["+algorithm.policyloss=vanilla"], "algorithm.policyloss is not a key verl or abc_grpo_verl reads: did you mean "
                                        "algorithm.policy_loss?"),
    (["+algorithm.clip_neg_high=0.3"], f"it belongs in {KEY}.clip_neg_high"),
    (["actor_rollout_ref.rollout.n=2.5"], "actor_rollout_ref.rollout.n=2.5 is invalid"),
    (["+ray_kwargs.ray_init.runtime_env.env_vars.ABC_GRPO_COMPILE=''"],
     "ray_kwargs.ray_init.runtime_env.env_vars.ABC_GRPO_COMPILE='' is invalid"),
])
def test_mistakes_fail_before_ray(main_ppo_run, argv, message):
    result = main_ppo_run(*argv)
    assert result.status == 1 and result.config is None
    assert message in result.err


def test_a_run_that_does_not_use_abc_grpo_is_left_alone(main_ppo_run):
    """Installing the plugin never breaks a verl run that does not use it: unknown algorithm keys of other recipes
    are a warning, and nothing in the config changes."""
    # a key close to one of ours and an ABC_GRPO_* name the package does not read: errors in an abc_grpo run
    result = main_ppo_run("+algorithm.my_recipe_knob=3", "+algorithm.clip_high=0.28", env={"ABC_GRPO_MY_OWN": "1"})
    assert result.status == 0, result.err
    assert result.config.actor_rollout_ref.actor.policy_loss._target_ == "verl.workers.config.PolicyLossConfig"
    assert result.config.actor_rollout_ref.actor.policy_loss.loss_mode == "vanilla"
    assert result.config.algorithm.my_recipe_knob == 3
    assert "algorithm.my_recipe_knob is not a field of verl's AlgoConfig" in result.log
    assert f"algorithm.clip_high is not a field of verl's AlgoConfig, so verl ignores it; did you mean {KEY}" in (
        result.log)
    assert "environment variable ABC_GRPO_MY_OWN is not a setting of abc_grpo_verl" in result.log
    assert "loss_mode=vanilla (the ABC-GRPO bounds do not apply), adv_estimator=grpo" in result.log


@pytest.mark.parametrize("argv", [
    # verl's ActorConfig fills in PolicyLossConfig's defaults when the node is absent
    [f"~{KEY}"],
    [f"~{KEY}._target_"],
    [f"~{KEY}.loss_mode"],
    # no _target_ on the algorithm node: verl never converts it, so there is nothing to compare keys with
    ["~algorithm._target_", "+algorithm.my_recipe_knob=3"],
    # the plugin switched off in the Ray workers: irrelevant to a run that does not use abc_grpo
    ["+ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_PLUGINS=none"],
])
def test_configs_verl_accepts_pass_when_they_do_not_use_abc_grpo(main_ppo_run, argv):
    result = main_ppo_run(*argv)
    assert result.status == 0, result.err
    assert "loss_mode=vanilla (the ABC-GRPO bounds do not apply), adv_estimator=grpo" in result.log
    # what the TaskRunner receives is what verl alone would have passed on
    assert OmegaConf.select(result.config, f"{KEY}.loss_mode", default="vanilla") == "vanilla"


def test_the_alias_without_a_policy_loss_node_builds_verls_class(main_ppo_run):
    result = main_ppo_run(f"~{KEY}", "+algorithm.policy_loss=abc_grpo")
    assert result.status == 0, result.err
    actor = omega_conf_to_dataclass(result.config.actor_rollout_ref.actor)
    assert type(actor.policy_loss) is PolicyLossConfig and actor.policy_loss.loss_mode == "abc_grpo"
    assert "loss_mode=abc_grpo, clip_pos_high (eps1)=0.2" in result.log


def test_abc_only_checks_stay_out_of_other_runs():
    """A critic beside grpo is wasteful but verl's business; with the abc_grpo estimator it is an error."""
    config = compose("ppo_trainer", [*GRPO, "critic.enable=true"])
    assert preflight(config).loss_mode == "vanilla"
    with pytest.raises(ConfigError, match="critic.enable=True builds a critic"):
        preflight(compose("ppo_trainer", [*GRPO, "critic.enable=true", "algorithm.adv_estimator=abc_grpo",
                                          "actor_rollout_ref.rollout.n=4"]))


@pytest.mark.parametrize("estimator", ["grpo", "rloo", "gdpo", "opo", "gpg", "reinforce_plus_plus", "remax"])
def test_a_critic_no_estimator_but_gae_reads_is_an_error_in_an_abc_run(estimator):
    """verl's rule (need_critic, compute_advantage): only gae reads the critic's values."""
    config = compose("abc_grpo_trainer", [*GRPO, f"algorithm.adv_estimator={estimator}", "critic.enable=true"])
    with pytest.raises(ConfigError, match=f"critic.enable=True builds a critic, but algorithm.adv_estimator="
                                          f"{estimator} never reads its values"):
        preflight(config)
    assert preflight(compose("abc_grpo_trainer", [*GRPO, "algorithm.adv_estimator=gae", "critic.enable=true"]))


def test_verls_own_agent_loops_return_one_output_per_session():
    """What the agent-loop notice assumes (VERL_AGENT_LOOPS), read from verl's registry and annotations."""
    import typing

    import verl.experimental.agent_loop  # noqa: F401  (registers verl's agent loops)
    from hydra.utils import get_class
    from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, _agent_loop_registry

    loops = {name: get_class(spec["_target_"]) for name, spec in _agent_loop_registry.items()
             if spec["_target_"].startswith("verl.")}
    assert sorted(loops) == sorted(VERL_AGENT_LOOPS)
    for loop in loops.values():
        assert typing.get_type_hints(loop.run)["return"] is AgentLoopOutput  # one output, not a list of them


def test_the_packaged_config_by_name_and_the_dry_run(main_ppo_run, tmp_path):
    files = [write_dataset(tmp_path / name) for name in ("train.parquet", "val.parquet")]
    result = main_ppo_run("--config-name", "abc_grpo_trainer", f"data.train_files={files[0]}",
                          f"data.val_files={files[1]}", "actor_rollout_ref.model.path=Qwen/Qwen3-8B",
                          env={"ABC_GRPO_DRY_RUN": "1"})
    assert result.status == 0 and result.config is None, result.err
    assert result.essentials()["actor_rollout_ref.actor.policy_loss.loss_mode"] == "abc_grpo"
    assert "configuration is valid; not starting Ray" in result.out
