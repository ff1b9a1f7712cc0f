"""Recipes: every script runs through the launcher and resolves to the run it claims; matched runs differ only
in the loss; unknown keys fail; a recipe dry-runs right after the README's setup.

Each script really runs under bash, with PYTHON pointing at a stand-in that records the arguments it is given; the
launcher then runs those arguments in this process with verl's run_ppo recorded (composition, the preflight and
verl's validate_config, as `python -m abc_grpo_verl.train` would, without paying a fresh interpreter per recipe):
the config a test inspects is the object the TaskRunner would receive. Two tests run a script end to end.
"""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from abc_grpo_verl import reward
from abc_grpo_verl.train import main
from abc_grpo_verl.validation import resolved_essentials
from tests.hydra_apps import run_app, write_dataset

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
DATA_DIR = "/data/abc"  # never read: only the dry run opens data files
KEY = "actor_rollout_ref.actor.policy_loss"
BOUNDS = ("clip_pos_high", "clip_pos_low", "clip_neg_high", "clip_neg_low")
GSM8K_MATH = (f"['{DATA_DIR}/gsm8k/train.parquet', '{DATA_DIR}/math/train.parquet']",
              f"['{DATA_DIR}/gsm8k/test.parquet', '{DATA_DIR}/math/math500.parquet']")
DAPO = (f"['{DATA_DIR}/dapo_math/train.parquet']", f"['{DATA_DIR}/math/math500.parquet']")
# the baselines train with verl's vanilla loss and count Q1..Q4 against the ABC recipes' band
BASELINE = "abc_grpo_vanilla"
REPORT_BAND = {b: "0.2" for b in BOUNDS}

# recipe -> (model, loss mode, estimator, clip settings it must resolve to, (train files, val files))
CLAIMS = {
    "run_qwen3_8b_abc.sh": ("Qwen/Qwen3-8B", "abc_grpo", "abc_grpo", {b: "0.2" for b in BOUNDS}, GSM8K_MATH),
    "run_qwen3_8b_grpo.sh": ("Qwen/Qwen3-8B", BASELINE, "grpo",
                             {**REPORT_BAND, "clip_ratio_low": "0.2", "clip_ratio_high": "0.2", "clip_ratio_c": "3.0"},
                             GSM8K_MATH),
    "run_qwen3_8b_dualclip.sh": ("Qwen/Qwen3-8B", BASELINE, "grpo",
                                 {**REPORT_BAND, "clip_ratio_low": "0.2", "clip_ratio_high": "0.2",
                                  "clip_ratio_c": "1.2"},
                                 GSM8K_MATH),
    "paper/run_qwen3_1.7b_base_abc.sh": ("Qwen/Qwen3-1.7B-Base", "abc_grpo", "abc_grpo",
                                         {b: "0.2" for b in BOUNDS}, DAPO),
    "paper/run_qwen3_1.7b_base_grpo.sh": ("Qwen/Qwen3-1.7B-Base", BASELINE, "grpo",
                                          {**REPORT_BAND, "clip_ratio_low": "0.2", "clip_ratio_high": "0.2",
                                           "clip_ratio_c": "1000000000.0"}, DAPO),
    "paper/run_qwen3_4b_base_abc.sh": ("Qwen/Qwen3-4B-Base", "abc_grpo", "abc_grpo", {b: "0.2" for b in BOUNDS}, DAPO),
    "paper/run_qwen3_4b_base_grpo.sh": ("Qwen/Qwen3-4B-Base", BASELINE, "grpo",
                                        {**REPORT_BAND, "clip_ratio_low": "0.2", "clip_ratio_high": "0.2",
                                         "clip_ratio_c": "1000000000.0"}, DAPO),
}
# the paper's per-model settings: (prompts per rollout, prompts per optimizer step, prompt length, response length)
PAPER_SIZES = {"1.7b": (512, 128, 2048, 4096), "4b": (256, 64, 1024, 3072)}
# keys two matched runs may differ in: the loss itself, and the run's name (with the checkpoint folder named after it)
LOSS_KEYS = {f"{KEY}.loss_mode", "algorithm.adv_estimator", "actor_rollout_ref.actor.clip_ratio_c",
             *(f"{KEY}.{b}" for b in BOUNDS)}
NAME_KEYS = {"trainer.experiment_name", "actor_rollout_ref.rollout.trace.experiment_name",
             "trainer.default_local_dir", "ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_ROOT"}


def test_every_recipe_is_covered():
    found = {str(path.relative_to(RECIPES)) for path in RECIPES.rglob("run_*.sh")}
    assert found == set(CLAIMS)


def recorded_argv(recipe, tmp_path, *extra, env=None):
    """Run `recipe` under bash with PYTHON set to a stand-in that records its argv; return the launcher arguments."""
    shim = tmp_path / "python-recorder"
    shim.write_text('#!/usr/bin/env bash\nprintf \'%s\\0\' "$@" > "$ARGV_FILE"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    argv_file = tmp_path / "argv"
    result = subprocess.run(
        ["bash", str(RECIPES / recipe), *extra],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ARGV_FILE": str(argv_file), "PYTHON": str(shim),
             "DATA_DIR": DATA_DIR, **(env or {})},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    argv = argv_file.read_text().split("\0")[:-1]
    assert argv[:2] == ["-m", "abc_grpo_verl.train"]
    return argv[2:]


def essentials(stdout):
    """The launcher's printed `key = value` lines."""
    lines = [line.strip().split(" = ", 1) for line in stdout.splitlines() if " = " in line]
    return {key.strip(): value for key, value in lines}


def launched(argv, tmp_path):
    """The launcher on `argv` in this process: the config run_ppo received, and its essentials as a dry run prints."""
    result = run_app(main, argv, tmp_path / "run")
    assert result.status == 0, result.err
    return result.config, {key: str(value) for key, value in resolved_essentials(result.config).items()}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory):
    """recipe -> (argv, essentials, the config run_ppo received), each recipe run once."""
    results = {}
    for recipe in CLAIMS:
        tmp_path = tmp_path_factory.mktemp("recipe")
        argv = recorded_argv(recipe, tmp_path)
        config, values = launched(argv, tmp_path)
        results[recipe] = (argv, values, config)
    return results


@pytest.mark.parametrize("recipe", sorted(CLAIMS))
def test_recipe_resolves_to_the_run_it_claims(resolved, recipe):
    argv, values, _ = resolved[recipe]
    model, loss_mode, estimator, clips, (train_files, val_files) = CLAIMS[recipe]
    assert values[f"{KEY}.loss_mode"] == loss_mode
    assert values["algorithm.adv_estimator"] == estimator
    for name, expected in clips.items():
        key = f"{KEY}.{name}" if name in BOUNDS else f"actor_rollout_ref.actor.{name}"
        assert values[key] == expected, key
    if loss_mode == "abc_grpo":
        assert values[f"{KEY}.ratio_level"] == "token"
    assert values["actor_rollout_ref.model.path"] == model
    assert values["actor_rollout_ref.rollout.n"] == "8"
    assert values["actor_rollout_ref.actor.use_kl_loss"] == "False"
    assert values["algorithm.use_kl_in_reward"] == "False"
    assert values["critic.enable"] == "False"
    assert (values["data.train_files"], values["data.val_files"]) == (train_files, val_files)
    assert values["reward.custom_reward_function.path"] == "pkg://abc_grpo_verl.reward"
    assert values["reward.custom_reward_function.name"] == "compute_score"
    assert values["actor_rollout_ref.actor.optim.lr"] == "1e-06"
    assert values["actor_rollout_ref.rollout.temperature"] == "1.0"
    assert values["actor_rollout_ref.actor.loss_agg_mode"] == "token-mean"
    assert (values["trainer.n_gpus_per_node"], values["trainer.nnodes"]) == ("8", "1")
    # verl 0.9.1 ignores the legacy top-level spelling; it must never be what a recipe relies on
    assert not [arg for arg in argv if arg.lstrip("+").startswith("custom_reward_function.")]


@pytest.mark.parametrize("recipe", [r for r in CLAIMS if r.startswith("paper/")])
def test_paper_recipes_map_the_paper_hyperparameters(resolved, recipe):
    _, _, config = resolved[recipe]
    size = recipe.split("_")[2]
    rollout_prompts, step_prompts, prompt_length, response_length = PAPER_SIZES[size]
    actor = config.actor_rollout_ref.actor
    assert (config.data.train_batch_size, actor.ppo_mini_batch_size) == (rollout_prompts, step_prompts)
    assert config.data.train_batch_size // actor.ppo_mini_batch_size == 4 and actor.ppo_epochs == 1
    assert (config.data.max_prompt_length, config.data.max_response_length) == (prompt_length, response_length)
    assert actor.optim.lr == 1e-6 and actor.optim.lr_scheduler_type == "cosine"
    assert actor.optim.lr_warmup_steps_ratio == 0.1 and actor.optim.weight_decay == 0.0
    assert actor.grad_clip == 1.0
    assert config.trainer.total_epochs == 5
    correction = config.algorithm.rollout_correction
    assert (correction.rollout_is, correction.rollout_is_threshold, correction.bypass_mode) == ("token", 2.0, False)
    rollout = config.actor_rollout_ref.rollout
    assert (rollout.temperature, rollout.top_p, rollout.top_k) == (1.0, 1.0, -1)
    assert config.algorithm.norm_adv_by_std_in_grpo is True
    assert config.data.apply_chat_template_kwargs.enable_thinking is True
    assert actor.ppo_max_token_len_per_gpu >= prompt_length + response_length


@pytest.mark.parametrize("recipe", [r for r in CLAIMS if r.startswith("run_qwen3_8b")])
def test_8b_recipes_use_verls_qwen3_8b_example_settings(resolved, recipe):
    _, _, config = resolved[recipe]
    actor, rollout = config.actor_rollout_ref.actor, config.actor_rollout_ref.rollout
    assert (config.data.train_batch_size, actor.ppo_mini_batch_size) == (1024, 256)
    assert (config.data.max_prompt_length, config.data.max_response_length) == (1024, 2048)
    assert (rollout.name, rollout.tensor_model_parallel_size, rollout.gpu_memory_utilization) == ("vllm", 2, 0.6)
    assert actor.use_dynamic_bsz is True and actor.ppo_max_token_len_per_gpu == 24576
    assert actor.optim.lr_scheduler_type == "constant"
    assert config.algorithm.rollout_correction.rollout_is is None
    assert config.data.apply_chat_template_kwargs.enable_thinking is False


def flat(config):
    """{dotted.key: value} of a resolved config."""
    items = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            items[prefix[:-1]] = node

    walk(OmegaConf.to_container(config, resolve=True), "")
    return items


@pytest.mark.parametrize(("treated", "baseline"), [
    ("run_qwen3_8b_abc.sh", "run_qwen3_8b_grpo.sh"),
    ("run_qwen3_8b_abc.sh", "run_qwen3_8b_dualclip.sh"),
    ("paper/run_qwen3_1.7b_base_abc.sh", "paper/run_qwen3_1.7b_base_grpo.sh"),
    ("paper/run_qwen3_4b_base_abc.sh", "paper/run_qwen3_4b_base_grpo.sh"),
])
def test_matched_runs_differ_only_in_the_loss(resolved, treated, baseline):
    a, b = flat(resolved[treated][2]), flat(resolved[baseline][2])
    assert a.keys() == b.keys()
    differing = {key for key in a if a[key] != b[key]}
    assert differing <= LOSS_KEYS | NAME_KEYS, differing - LOSS_KEYS - NAME_KEYS
    assert {f"{KEY}.loss_mode", "algorithm.adv_estimator"} <= differing


def test_knobs_from_the_environment_and_appended_overrides(tmp_path):
    argv = recorded_argv("run_qwen3_8b_abc.sh", tmp_path, "trainer.total_epochs=1", f"{KEY}.clip_pos_low=1",
                         env={"N_GPUS": "4", "NNODES": "2", "CLIP_NEG_HIGH": "0.35", "MODEL_PATH": "/models/q3"})
    assert argv[-2:] == ["trainer.total_epochs=1", f"{KEY}.clip_pos_low=1"]  # "$@" comes last, so it wins
    config, values = launched(argv, tmp_path)
    assert (values["trainer.n_gpus_per_node"], values["trainer.nnodes"]) == ("4", "2")
    assert (values[f"{KEY}.clip_neg_high"], values[f"{KEY}.clip_pos_low"]) == ("0.35", "1.0")
    assert values["actor_rollout_ref.model.path"] == "/models/q3"
    assert config.trainer.total_epochs == 1


@pytest.mark.parametrize("treated, baseline", [("run_qwen3_8b_abc.sh", "run_qwen3_8b_grpo.sh"),
                                                ("paper/run_qwen3_4b_base_abc.sh", "paper/run_qwen3_4b_base_grpo.sh")])
def test_a_baselines_reporting_band_follows_its_abc_runs_band(tmp_path, treated, baseline):
    widths = {"CLIP_POS_HIGH": "0.28", "CLIP_POS_LOW": "0.1", "CLIP_NEG_HIGH": "0.35", "CLIP_NEG_LOW": "0.15"}
    bands = [
        {key.rsplit(".", 1)[1]: value for key, value in (arg.split("=", 1) for arg in
                                                           recorded_argv(recipe, tmp_path, env=widths))
         if key.startswith(f"{KEY}.clip_")}
        for recipe in (treated, baseline)
    ]
    assert bands[0] == bands[1] == {b: widths[b.upper()] for b in BOUNDS}
    # the 0.2 defaults are written once, in common.sh, not in each run script
    defaults = [path.name for path in RECIPES.rglob("*.sh")
                if re.search(r"CLIP_(POS|NEG)_(HIGH|LOW)(=|:=|:-)", path.read_text())]
    assert defaults == ["common.sh"]


def test_the_recipes_reward_loads_through_verl(resolved):
    from verl.trainer.ppo.reward import get_custom_reward_fn

    _, _, config = resolved["run_qwen3_8b_abc.sh"]
    score = get_custom_reward_fn(config)
    assert score.args[0] is reward.compute_score  # imported by name: the same module object, nothing re-executed
    result = score(data_source="openai/gsm8k", solution_str="So \\boxed{72}.", ground_truth="72", extra_info={})
    assert result == {"score": 1.0, "acc": True, "pred": "72"}


def test_launch_rejects_an_unknown_loss(tmp_path):
    result = subprocess.run(["bash", "-c", f'source "{RECIPES / "common.sh"}"; launch ppo'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown policy loss 'ppo'" in result.stderr


def test_launch_without_any_python_that_has_the_package_says_what_to_do(tmp_path):
    """No PYTHON, no python3 on PATH, no .venv beside the recipes (a copy of common.sh elsewhere)."""
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "common.sh").write_text((RECIPES / "common.sh").read_text())
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dirname").symlink_to("/usr/bin/dirname")
    result = subprocess.run(["/bin/bash", "-c", f'source "{tmp_path}/recipes/common.sh"; launch abc_grpo'],
                            env={"PATH": str(tmp_path / "bin")}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert ("launch: no Python with abc-grpo-verl: run `make setup` (the project's .venv), activate an environment "
            "that has the package, or set PYTHON") in result.stderr


def run_for_real(recipe, tmp_path, *extra, env=None):
    """`ABC_GRPO_DRY_RUN=1 bash recipes/<recipe>` from the repository root, as the README says, in a bare
    environment plus `env` (hydra's run directory aside, so the checkout stays clean)."""
    return subprocess.run(
        ["bash", f"recipes/{recipe}", *extra, f"hydra.run.dir={tmp_path / 'hydra'}"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ABC_GRPO_DRY_RUN": "1", **(env or {})},
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )


@pytest.mark.slow
def test_flagship_recipe_dry_runs_the_readme_way(resolved, tmp_path):
    """Right after `make setup`: the system's python3 lacks the package (from the repository root it would import
    the package's source, then fail on hydra), so the recipe takes the project's .venv."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    if not venv_python.exists():
        pytest.skip("the README's setup (`make setup`, .venv) has not run in this checkout")
    data = tmp_path / "data"
    for name in ("gsm8k/train.parquet", "math/train.parquet", "gsm8k/test.parquet", "math/math500.parquet"):
        write_dataset(data / name)
    result = run_for_real("run_qwen3_8b_abc.sh", tmp_path, env={"DATA_DIR": str(data)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "configuration is valid; not starting Ray" in result.stdout
    system_has_it = subprocess.run(["/usr/bin/python3", "-c", "import abc_grpo_verl.train"], capture_output=True,
                                   cwd="/").returncode == 0
    if not system_has_it:
        assert "+ recipes/../.venv/bin/python -m abc_grpo_verl.train" in result.stderr  # bash -x trace
    printed = essentials(result.stdout)
    expected = resolved["run_qwen3_8b_abc.sh"][1]
    assert {k: v for k, v in printed.items() if not k.startswith("data.")} == {
        k: v for k, v in expected.items() if not k.startswith("data.")}
    assert printed["data.train_files"] == str([f"{data}/gsm8k/train.parquet", f"{data}/math/train.parquet"])
    # the hub id cannot be checked offline, and the dry run says so
    assert "NOTICE: actor_rollout_ref.model.path=Qwen/Qwen3-8B is not a local path" in result.stdout


@pytest.mark.slow
def test_an_unknown_key_appended_to_a_recipe_fails(tmp_path):
    # a plausible slip: verl's key is lr_warmup_steps_ratio
    result = run_for_real("paper/run_qwen3_4b_base_abc.sh", tmp_path,
                          "actor_rollout_ref.actor.optim.lr_warmup_ratio=0.1", env={"PYTHON": sys.executable})
    assert result.returncode != 0
    assert "Could not override 'actor_rollout_ref.actor.optim.lr_warmup_ratio'" in result.stderr


def test_the_paper_baselines_clip_ratio_c_turns_verls_dual_clip_off():
    """clip_ratio_c=1e9 makes verl's vanilla loss TRL's GRPO loss, -min(r A, clip(r, 0.8, 1.2) A), with no dual-clip;
    verl's default c=3 differs on the same batch."""
    import torch
    from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla

    from tests.support import make_actor_config, random_batch

    batch = random_batch(bs=8, length=12, spread=2.0, dtype=torch.float64)
    ratio = torch.exp((batch["log_prob"] - batch["old_log_prob"]).clamp(-20, 20))
    advantages, mask = batch["advantages"], batch["response_mask"]
    per_token = -torch.min(ratio * advantages, ratio.clamp(0.8, 1.2) * advantages)
    expected = (per_token * mask).sum() / mask.sum()

    def vanilla(clip_ratio_c):
        return compute_policy_loss_vanilla(
            old_log_prob=batch["old_log_prob"], log_prob=batch["log_prob"], advantages=advantages,
            response_mask=mask, loss_agg_mode="token-mean",
            config=make_actor_config(loss_mode="vanilla", clip_ratio_c=clip_ratio_c))

    loss, metrics = vanilla(1e9)
    torch.testing.assert_close(loss, expected)
    assert metrics["actor/pg_clipfrac_lower"] == 0.0
    assert not torch.isclose(vanilla(3.0)[0], expected)
