# Copyright 2026 Individual Contributor: abc-grpo-verl contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Launcher: ``python -m abc_grpo_verl.train <hydra overrides>`` runs verl's PPO trainer on ``abc_grpo_trainer``.

It does what ``python -m verl.trainer.main_ppo`` does, plus, before Ray starts:
- accepts ``algorithm.policy_loss=NAME`` as an alias of verl's ``actor_rollout_ref.actor.policy_loss.loss_mode``
  (an error if both are given and disagree);
- a preflight that fails on configurations verl would accept but run wrongly or crash on after a rollout.

``ABC_GRPO_DRY_RUN=1`` stops after the preflight and prints the resolved essentials: no Ray, no GPU.
``--config-path DIR --config-name NAME`` selects another config (e.g. one of yours that extends this one).
"""

import os
import re
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

CONFIG_DIR = Path(__file__).parent / "conf"
CONFIG_NAME = "abc_grpo_trainer"
ALIAS_KEY = "algorithm.policy_loss"
LOSS_MODE_KEY = "actor_rollout_ref.actor.policy_loss.loss_mode"
DRY_RUN_ENV = "ABC_GRPO_DRY_RUN"
# Estimators whose advantage is group-relative: a critic would be trained for nothing.
GROUP_ESTIMATORS = {"abc_grpo", "grpo", "grpo_vectorized", "grpo_passk"}


class ConfigError(ValueError):
    """A configuration problem found before any worker starts."""


def _override_value(override: str, key: str) -> str | None:
    """The value `override` assigns to `key` (``key=v``, ``+key=v`` or ``++key=v``), else None."""
    match = re.fullmatch(rf"\+{{0,2}}{re.escape(key)}=(.*)", override, flags=re.DOTALL)
    return match.group(1).strip().strip("'\"") if match else None


def apply_policy_loss_alias(overrides: list[str]) -> list[str]:
    """Rewrite ``algorithm.policy_loss=X`` into ``actor_rollout_ref.actor.policy_loss.loss_mode=X``.

    verl has no ``algorithm.policy_loss`` key: hydra rejects it, and with ``+`` verl's AlgoConfig does.
    """
    aliases = [v for o in overrides if (v := _override_value(o, ALIAS_KEY)) is not None]
    natives = [v for o in overrides if (v := _override_value(o, LOSS_MODE_KEY)) is not None]
    if len(set(aliases)) > 1:
        raise ConfigError(f"{ALIAS_KEY} is given more than once with different values: {aliases}")
    if aliases and natives and set(natives) != set(aliases):
        raise ConfigError(
            f"{ALIAS_KEY}={aliases[0]} and {LOSS_MODE_KEY}={natives[-1]} disagree; "
            f"{ALIAS_KEY} is an alias of {LOSS_MODE_KEY}: give one of them, or the same value to both"
        )
    rest = [o for o in overrides if _override_value(o, ALIAS_KEY) is None]
    if aliases and not natives:
        rest.append(f"{LOSS_MODE_KEY}={aliases[0]}")
    return rest


def split_argv(argv: list[str]) -> tuple[Path, str, list[str]]:
    """Separate hydra's ``--config-path``/``--config-name`` (also ``-cp``/``-cn``) from the overrides."""
    config_dir, config_name, overrides = CONFIG_DIR, CONFIG_NAME, []
    args = iter(argv)
    for arg in args:
        flag, eq, value = arg.partition("=")
        if flag in ("--config-path", "-cp", "--config-name", "-cn"):
            if not eq:
                value = next(args, None)
                if value is None:
                    raise ConfigError(f"{flag} needs a value")
            if flag in ("--config-path", "-cp"):
                config_dir = Path(value).expanduser().resolve()
            else:
                config_name = value
        elif arg.startswith("-"):
            raise ConfigError(f"unknown option {arg!r}: this launcher takes hydra overrides key=value, "
                              "--config-path and --config-name")
        else:
            overrides.append(arg)
    return config_dir, config_name, overrides


def compose_config(overrides: list[str], config_dir: Path = CONFIG_DIR, config_name: str = CONFIG_NAME) -> DictConfig:
    """Compose the trainer config as ``hydra.main`` would, with the alias applied. Typos in keys fail here."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = apply_policy_loss_alias(overrides)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        config = compose(config_name=config_name, overrides=overrides)
    # A config file of the user's may carry the alias itself; consume it so verl's AlgoConfig never sees it.
    if "policy_loss" in config.algorithm:
        alias = config.algorithm.policy_loss
        native_given = [v for o in overrides if (v := _override_value(o, LOSS_MODE_KEY)) is not None]
        if alias is not None and native_given and native_given[-1] != alias:
            raise ConfigError(
                f"{ALIAS_KEY}={alias} (from {config_name}) and {LOSS_MODE_KEY}={native_given[-1]} disagree"
            )
        with open_dict(config):
            if alias is not None:
                config.actor_rollout_ref.actor.policy_loss.loss_mode = alias
            del config.algorithm["policy_loss"]
    return config


def preflight(config: DictConfig) -> list[str]:
    """Fail before Ray starts on what would otherwise fail (or silently misbehave) after a rollout.

    Returns notices: settings that are valid but probably not what the user meant (printed by `main`).
    """
    from verl.trainer.ppo import core_algos
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    from abc_grpo_verl.config import BOUND_FIELDS, POLICY_LOSS_KEY, resolve_bounds, resolve_ratio_level
    from abc_grpo_verl.plugin import registration_errors

    errors = registration_errors()
    if errors:
        raise ConfigError(
            "; ".join(errors) + ". Is abc-grpo-verl installed in this environment (`pip show abc-grpo-verl`)? "
            "If the verl.plugins entry point is disabled (VERL_USE_EXTERNAL_PLUGINS), set "
            "VERL_USE_EXTERNAL_MODULES=abc_grpo_verl.plugin"
        )
    actor = config.actor_rollout_ref.actor
    loss_mode = actor.policy_loss.loss_mode
    estimator = config.algorithm.adv_estimator
    if loss_mode not in core_algos.POLICY_LOSS_REGISTRY:
        raise ConfigError(f"{LOSS_MODE_KEY}={loss_mode!r} is not a registered policy loss; "
                          f"valid: {sorted(core_algos.POLICY_LOSS_REGISTRY)}")
    if estimator not in core_algos.ADV_ESTIMATOR_REGISTRY:
        raise ConfigError(f"algorithm.adv_estimator={estimator!r} is not a registered advantage estimator; "
                          f"valid: {sorted(core_algos.ADV_ESTIMATOR_REGISTRY)}")
    notices = []
    if loss_mode == "abc_grpo":
        resolve_bounds(actor)
        if resolve_ratio_level(actor) == "sequence" and actor.loss_agg_mode != "seq-mean-token-mean":
            notices.append(
                f"{POLICY_LOSS_KEY}.ratio_level=sequence with actor_rollout_ref.actor.loss_agg_mode="
                f"{actor.loss_agg_mode}: GSPO's sequence objective is seq-mean-token-mean"
            )
        # Only the legacy trainer swaps the configured loss for verl's bypass_mode loss (ray_trainer.py); the V1
        # trainer keeps abc_grpo and only takes the rollout's log-probs as the old policy.
        if config.algorithm.rollout_correction.get("bypass_mode", False) and not config.trainer.use_v1:
            raise ConfigError(
                "algorithm.rollout_correction.bypass_mode=true with trainer.use_v1=false replaces the policy loss "
                f"with verl's bypass_mode loss, so {LOSS_MODE_KEY}=abc_grpo would not run; set bypass_mode=false "
                "or use the V1 trainer (trainer.use_v1=true, verl's default)"
            )
    else:
        stray = [f"{POLICY_LOSS_KEY}.{k}={actor.policy_loss[k]}" for k in BOUND_FIELDS
                 if actor.policy_loss.get(k, None) is not None]
        if actor.policy_loss.get("ratio_level", "token") != "token":
            stray.append(f"{POLICY_LOSS_KEY}.ratio_level={actor.policy_loss.ratio_level}")
        if stray:
            raise ConfigError(f"{', '.join(stray)} only apply to {LOSS_MODE_KEY}=abc_grpo, not {loss_mode!r}")
    if estimator == "abc_grpo" and config.actor_rollout_ref.rollout.multi_turn.get("enable", False):
        # verl's V1 trainer groups multi-turn sessions (one outcome per session) only for the name "grpo"
        # (trainer/ppo/v1/utils.py); under any other name every turn would count as a group member.
        raise ConfigError(
            "algorithm.adv_estimator=abc_grpo with actor_rollout_ref.rollout.multi_turn.enable=true: verl groups "
            "multi-turn sessions only for its own grpo estimator; set algorithm.adv_estimator=grpo (same numbers "
            f"on single-turn data) and keep {LOSS_MODE_KEY}=abc_grpo"
        )
    rollout_n = config.actor_rollout_ref.rollout.n
    if estimator == "abc_grpo" and rollout_n < 2:
        raise ConfigError(
            f"actor_rollout_ref.rollout.n={rollout_n} is invalid with algorithm.adv_estimator=abc_grpo: the "
            "group baseline needs at least 2 responses per prompt (valid: n >= 2; the paper uses 8)"
        )
    use_critic = need_critic(config)
    if estimator in GROUP_ESTIMATORS and use_critic:
        raise ConfigError(
            f"critic.enable={config.critic.enable} builds a critic, but algorithm.adv_estimator={estimator} is "
            "group-relative and never uses its values; set critic.enable=false"
        )
    auto_set_device(config)
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=use_critic)
    return notices


def resolved_essentials(config: DictConfig) -> dict[str, Any]:
    """The settings that make a run what it claims, with every default resolved to a number."""
    from abc_grpo_verl.config import BOUND_FIELDS, POLICY_LOSS_KEY, resolve_bounds, resolve_ratio_level

    actor = config.actor_rollout_ref.actor
    essentials: dict[str, Any] = {
        LOSS_MODE_KEY: actor.policy_loss.loss_mode,
        "algorithm.adv_estimator": config.algorithm.adv_estimator,
        "algorithm.norm_adv_by_std_in_grpo": config.algorithm.norm_adv_by_std_in_grpo,
    }
    if actor.policy_loss.loss_mode == "abc_grpo":
        bounds = resolve_bounds(actor)
        widths = (bounds.pos_high, bounds.pos_low, bounds.neg_high, bounds.neg_low)
        for name, value in zip(BOUND_FIELDS, widths, strict=True):
            essentials[f"{POLICY_LOSS_KEY}.{name}"] = value
        essentials[f"{POLICY_LOSS_KEY}.ratio_level"] = resolve_ratio_level(actor)
    else:
        for name in ("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"):
            essentials[f"actor_rollout_ref.actor.{name}"] = actor.get(name)
    essentials.update(
        {
            "actor_rollout_ref.actor.loss_agg_mode": actor.loss_agg_mode,
            "actor_rollout_ref.actor.use_kl_loss": actor.use_kl_loss,
            "algorithm.use_kl_in_reward": config.algorithm.use_kl_in_reward,
            "actor_rollout_ref.rollout.n": config.actor_rollout_ref.rollout.n,
            "actor_rollout_ref.model.path": config.actor_rollout_ref.model.path,
            "actor_rollout_ref.actor.optim.lr": actor.optim.lr,
            "actor_rollout_ref.rollout.temperature": config.actor_rollout_ref.rollout.temperature,
            # null means verl's built-in scorer, which knows only some data_source names
            "reward.custom_reward_function.path": OmegaConf.select(config, "reward.custom_reward_function.path"),
            "reward.custom_reward_function.name": OmegaConf.select(config, "reward.custom_reward_function.name"),
            "data.train_files": OmegaConf.to_container(config.data.train_files, resolve=True)
            if OmegaConf.is_list(config.data.train_files) else config.data.train_files,
            "data.val_files": OmegaConf.to_container(config.data.val_files, resolve=True)
            if OmegaConf.is_list(config.data.val_files) else config.data.val_files,
            "critic.enable": config.critic.enable,
            "trainer.n_gpus_per_node": config.trainer.n_gpus_per_node,
            "trainer.nnodes": config.trainer.nnodes,
        }
    )
    return essentials


def main(argv: list[str] | None = None) -> int:
    """Compose, check, and either print (dry run) or run verl's PPO trainer. Returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        config_dir, config_name, overrides = split_argv(argv)
        config = compose_config(overrides, config_dir, config_name)
        notices = preflight(config)
        essentials = resolved_essentials(config)
    except Exception as error:  # noqa: BLE001 - every configuration failure ends here, named, before Ray
        print(f"abc_grpo_verl: configuration error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    for notice in notices:
        print(f"abc_grpo_verl: NOTICE: {notice}")
    print("abc_grpo_verl: resolved configuration")
    width = max(map(len, essentials))
    for key, value in essentials.items():
        print(f"  {key:<{width}} = {value}")
    if os.environ.get(DRY_RUN_ENV, "0") not in ("", "0"):
        print(f"abc_grpo_verl: {DRY_RUN_ENV} set: configuration is valid; not starting Ray")
        return 0

    from verl.trainer.main_ppo import TaskRunnerV1, run_ppo

    if config.trainer.use_v1:
        run_ppo(config, task_runner_class=TaskRunnerV1)
    else:
        from verl.trainer.main_ppo_v0 import TaskRunner

        run_ppo(config, task_runner_class=TaskRunner)
    return 0


if __name__ == "__main__":
    sys.exit(main())
