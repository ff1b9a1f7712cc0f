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
"""The preflight: one set of checks on the driver, before Ray, for plain verl and the launcher alike.

verl's ``main_ppo`` hands the composed DictConfig to ``verl.utils.config.validate_config`` on the driver before Ray
starts, then hands the same object to the TaskRunner. The plugin wraps that function (``plugin.py``) so that
:func:`validate` runs instead: :func:`preflight` (which also maps the ``algorithm.policy_loss`` alias onto verl's
key in that object), then verl's own function, then, under ``ABC_GRPO_DRY_RUN=1``, :func:`check_resources` and the
printed essentials, and the process exits before Ray. The launcher (``train.py``) calls :func:`validate` the same way.
"""

import dataclasses
import difflib
import inspect
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from abc_grpo_verl.config import (
    BOUND_FIELDS,
    DRY_RUN_ENV,
    ENV_PREFIX,
    ENV_SWITCHES,
    POLICY_LOSS_KEY,
    PREFLIGHT_ENV,
    env_switch,
    parse_switch,
    resolve_bounds,
    resolve_ratio_level,
)

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)  # the one-line summary is INFO; hydra's job logging shows INFO by default

ALIAS_KEY = "algorithm.policy_loss"
LOSS_MODE_KEY = f"{POLICY_LOSS_KEY}.loss_mode"
ESTIMATOR_KEY = "algorithm.adv_estimator"
ROLLOUT_N_KEY = "actor_rollout_ref.rollout.n"
RUNTIME_ENV_VARS_KEY = "ray_kwargs.ray_init.runtime_env.env_vars"
# the keys ABCPolicyLossConfig adds to verl's policy_loss node
ABC_POLICY_LOSS_KEYS = (*BOUND_FIELDS, "ratio_level")
# the baselines' loss: verl's vanilla, with the four bound keys as the band its quadrant metrics count against
BASELINE_LOSS = "abc_grpo_vanilla"
# verl's own agent loops (verl.experimental.agent_loop), each returning one output per session in verl 0.9.1 and
# main; tests/test_main_ppo.py holds this against verl's agent-loop registry and the loops' return annotations
VERL_AGENT_LOOPS = ("single_turn_agent", "tool_agent")
# the modules whose import registers abc_grpo with verl: the entry point's module, and the one it imports
REGISTERING_MODULES = ("abc_grpo_verl.plugin", "abc_grpo_verl.algos")
# `scheme://...` other than file:// is read by verl's copy_to_local (hdfs) or the hub, never checked here
REMOTE_PATH = re.compile(r"^(?!file://)[A-Za-z][A-Za-z0-9+.-]*://")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DATA_SUFFIXES = (".parquet", ".json", ".jsonl")


class ConfigError(ValueError):
    """A configuration problem found before any worker starts."""


@dataclass
class Checked:
    """What :func:`preflight` resolved: the loss, the estimator, the four bounds (abc_grpo only), notices."""

    loss_mode: str
    estimator: str
    bounds: dict[str, float] | None
    ratio_level: str | None
    notices: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The one line the plugin logs for every checked config."""
        widths = ", ".join(f"{name} ({BOUND_FIELDS[name][0]})={value}" for name, value in (self.bounds or {}).items())
        if self.bounds is None:
            loss = f"loss_mode={self.loss_mode} (the ABC-GRPO bounds do not apply)"
        elif self.loss_mode == BASELINE_LOSS:
            loss = f"loss_mode={self.loss_mode} (verl's vanilla loss; quadrant metrics against {widths})"
        else:
            loss = f"loss_mode={self.loss_mode}, {widths}, ratio_level={self.ratio_level}"
        return f"abc_grpo_verl checked the config: {loss}, adv_estimator={self.estimator}"


def validate(verl_validate: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """What runs in place of ``verl.utils.config.validate_config(*args, **kwargs)``.

    :func:`preflight` first (it may rewrite the config in place), then verl's `verl_validate` with every check of
    its own, then the summary log; under ``ABC_GRPO_DRY_RUN=1`` the data/model/reward checks and the printed
    essentials follow and the process exits with status 0, before Ray. An entry point that checks the config inside
    a Ray worker (verl's one_step_off_policy does, in its TaskRunner) is past that point: exiting there would only
    kill the actor, so the dry run raises instead, which ends the run with the reason.
    """
    try:
        arguments = inspect.signature(verl_validate).bind(*args, **kwargs).arguments
        config = arguments["config"]
    except (TypeError, KeyError):
        logger.error(
            "abc_grpo_verl: verl's validate_config no longer takes `config` (signature %s): the ABC-GRPO preflight "
            "did NOT run; algorithm.policy_loss is not mapped and bad settings reach the workers. Update "
            "abc-grpo-verl.",
            inspect.signature(verl_validate),
        )
        return verl_validate(*args, **kwargs)
    checked = preflight(config, use_critic=arguments.get("use_critic"))
    result = verl_validate(*args, **kwargs)
    logger.info(checked.summary())
    for notice in checked.notices:
        logger.warning("abc_grpo_verl: %s", notice)
    if _switch(DRY_RUN_ENV):
        notices = check_resources(config)
        print_essentials(config, notices)
        if _in_ray_worker():
            raise RuntimeError(
                f"{DRY_RUN_ENV}=1: the configuration is valid (the essentials are printed above), but this entry point "
                "checks it inside a Ray worker, after Ray started, so the dry run ends the run here with this error "
                "instead of training; verl.trainer.main_ppo and abc_grpo_verl.train check it before Ray"
            )
        print(f"abc_grpo_verl: {DRY_RUN_ENV} set: configuration is valid; not starting Ray", flush=True)
        sys.exit(0)
    return result


def refuse_without_preflight(verl_validate: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Under ``ABC_GRPO_PREFLIGHT=0`` (no preflight in plain verl): refuse what only the preflight honours, which
    would otherwise be ignored without a word: a dry run would start Ray and train, and the
    ``algorithm.policy_loss`` alias would leave verl's default loss in place."""
    try:
        config = inspect.signature(verl_validate).bind(*args, **kwargs).arguments["config"]
    except (TypeError, KeyError):
        return  # verl's own function reports a call it cannot take
    asked = [f"environment variable {DRY_RUN_ENV}=1"] if _switch(DRY_RUN_ENV) else []
    alias = OmegaConf.select(config, ALIAS_KEY, default=None)
    if alias is not None:
        asked.append(f"{ALIAS_KEY}={alias} (set {LOSS_MODE_KEY} instead, which verl reads itself)")
    if asked:
        raise ConfigError(f"environment variable {PREFLIGHT_ENV}=0 turns the abc_grpo_verl preflight off, but "
                          f"{' and '.join(asked)} need{'s' if len(asked) == 1 else ''} it; unset {PREFLIGHT_ENV} "
                          "(or set it to 1)")


def _in_ray_worker() -> bool:
    """Whether this process is a Ray worker (an actor such as a TaskRunner), not the driver."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE


def preflight(config: DictConfig, use_critic: bool | None = None) -> Checked:
    """Check `config` and normalise it in place: fail on what verl would accept but run wrongly or crash on later.

    In place: ``algorithm.policy_loss`` (the alias) is moved onto ``actor_rollout_ref.actor.policy_loss.loss_mode``
    and deleted, and a ``policy_loss`` node that sets ABC keys under verl's own ``_target_`` is pointed at
    ``ABCPolicyLossConfig`` (a subclass: every verl field stays). A config verl accepts and that does not use
    ABC-GRPO passes unchanged: such runs only get the checks whose failure verl would hit anyway (unregistered
    names, a fractional ``rollout.n``, a policy_loss key or class verl cannot build, bad ``ABC_GRPO_*`` switches),
    and absent nodes or keys take verl's defaults; keys under ``algorithm`` that verl ignores are a warning unless
    they ask for abc_grpo. `use_critic` is what verl's caller passes to ``validate_config`` (``need_critic``).
    """
    from verl.trainer.config import AlgoConfig
    from verl.trainer.ppo.core_algos import AdvantageEstimator

    opted_in = OmegaConf.select(config, ALIAS_KEY, default=None) is not None
    _apply_alias(config)
    # verl's ActorConfig fills in PolicyLossConfig's defaults for an absent node or key; so does this check
    policy_loss = _policy_loss_node(config)
    abc_keys = [key for key in ABC_POLICY_LOSS_KEYS if policy_loss.get(key, None) is not None]
    loss_mode = _loss_mode(config)
    estimator = OmegaConf.select(config, ESTIMATOR_KEY, default=AlgoConfig.adv_estimator)
    uses_abc = opted_in or "abc_grpo" in (loss_mode, estimator) or loss_mode == BASELINE_LOSS or bool(abc_keys)
    _check_switches(config, uses_abc)
    # a misspelt alias matters to any run that uses abc_grpo, a misspelt bound only to one whose loss is abc_grpo
    guarded = {"policy_loss"} if uses_abc else set()
    if loss_mode in ("abc_grpo", BASELINE_LOSS):
        guarded |= set(ABC_POLICY_LOSS_KEYS)
    _check_algorithm_keys(config, guarded)
    _check_policy_loss_node(policy_loss, abc_keys)
    notices = _check_registered(config, loss_mode, estimator)
    used = {key: name for key, name in ((LOSS_MODE_KEY, loss_mode), (ESTIMATOR_KEY, estimator))
            if name in ("abc_grpo", BASELINE_LOSS)}
    if used:
        notices += _check_workers_register_abc_grpo(config, used)
    checked = Checked(loss_mode=loss_mode, estimator=estimator, bounds=None, ratio_level=None, notices=notices)
    if loss_mode == "abc_grpo":
        from verl.workers.config import ActorConfig

        actor = config.actor_rollout_ref.actor
        bounds = resolve_bounds(actor)
        checked.bounds = dict(zip(BOUND_FIELDS, (bounds.pos_high, bounds.pos_low, bounds.neg_high, bounds.neg_low),
                                  strict=True))
        checked.ratio_level = resolve_ratio_level(actor)
        loss_agg_mode = actor.get("loss_agg_mode", ActorConfig.loss_agg_mode)
        if checked.ratio_level == "sequence" and loss_agg_mode != "seq-mean-token-mean":
            notices.append(
                f"{POLICY_LOSS_KEY}.ratio_level=sequence with actor_rollout_ref.actor.loss_agg_mode={loss_agg_mode}: "
                "GSPO's sequence objective is seq-mean-token-mean"
            )
    elif loss_mode == BASELINE_LOSS:
        bounds = resolve_bounds(config.actor_rollout_ref.actor)
        checked.bounds = dict(zip(BOUND_FIELDS, bounds, strict=True))
        if (ratio_level := resolve_ratio_level(config.actor_rollout_ref.actor)) != "token":
            raise ConfigError(f"{POLICY_LOSS_KEY}.ratio_level={ratio_level} with {LOSS_MODE_KEY}={BASELINE_LOSS}: "
                              "verl's vanilla loss takes one ratio per token; the quadrant metrics follow it (token)")
    elif abc_keys:
        stray = [f"{POLICY_LOSS_KEY}.{key}={policy_loss[key]}" for key in abc_keys
                 if key != "ratio_level" or policy_loss[key] != "token"]
        if stray:
            raise ConfigError(f"{', '.join(stray)} only apply to {LOSS_MODE_KEY}=abc_grpo, not {loss_mode!r}")
    # Only the legacy trainer swaps the configured loss for verl's bypass_mode loss (ray_trainer.py); the V1 trainer
    # keeps ours and only takes the rollout's log-probs as the old policy. The baseline's metrics would vanish too.
    if loss_mode in ("abc_grpo", BASELINE_LOSS) and OmegaConf.select(
            config, "algorithm.rollout_correction.bypass_mode", default=False) and not OmegaConf.select(
            config, "trainer.use_v1", default=True):
        raise ConfigError(
            "algorithm.rollout_correction.bypass_mode=true with trainer.use_v1=false replaces the policy loss with "
            f"verl's bypass_mode loss, so {LOSS_MODE_KEY}={loss_mode} would not run; set bypass_mode=false or use "
            "the V1 trainer (trainer.use_v1=true, verl's default)"
        )
    if estimator == "abc_grpo":
        notices += _check_agent_loops(config)
    notices += _check_rollout_n(config, estimator)
    _check_run_numbers(config, uses_abc)
    # verl's compute_advantage hands the critic's values to gae only; every other estimator ignores them
    if uses_abc and estimator != AdvantageEstimator.GAE and _builds_critic(config, use_critic):
        raise ConfigError(
            f"critic.enable={OmegaConf.select(config, 'critic.enable', default=None)} builds a critic, but "
            f"{ESTIMATOR_KEY}={estimator} never reads its values (in verl only gae does); set critic.enable=false"
        )
    return checked


def _builds_critic(config: DictConfig, use_critic: bool | None) -> bool:
    """verl's decision: what its caller passed to validate_config, else its need_critic rule."""
    if use_critic is not None:
        return use_critic
    from verl.trainer.ppo.utils import need_critic

    return need_critic(config)


def _switch(name: str) -> bool:
    return _as_config_error(env_switch, name, ENV_SWITCHES[name])


def _check_switches(config: DictConfig, uses_abc: bool) -> None:
    """Every ``ABC_GRPO_*`` setting, in this process and in the copies Ray workers get through ``runtime_env``: the
    switches, and the reward workers' memory limit (read only when the reward first grades, after a rollout). An
    ``ABC_GRPO_*`` name the package does not read is an error in a run that uses abc_grpo, else a warning."""
    from abc_grpo_verl.reward import WORKER_MEMORY_ENV, parse_worker_memory_mb

    settings = sorted({*ENV_SWITCHES, WORKER_MEMORY_ENV})
    for name in os.environ:
        _check_setting_name(name, f"environment variable {name}", settings, uses_abc)
    for name in ENV_SWITCHES:
        _switch(name)
    if WORKER_MEMORY_ENV in os.environ:
        label = f"environment variable {WORKER_MEMORY_ENV}"
        _as_config_error(parse_worker_memory_mb, label, os.environ[WORKER_MEMORY_ENV])
    env_vars = OmegaConf.select(config, RUNTIME_ENV_VARS_KEY, default=None) or {}
    for name, value in env_vars.items():
        key = f"{RUNTIME_ENV_VARS_KEY}.{name}"
        _check_setting_name(name, key, settings, uses_abc)
        if not isinstance(value, str):
            # hydra reads `...=1` as an int and `...=true` as a bool; ray.init refuses both
            raise ConfigError(
                f"{key}={value!r} is of type {type(value).__name__}: Ray takes environment variables as strings only; "
                f"quote the value on the command line: '+{key}=\"{value}\"'"
            )
        if name in ENV_SWITCHES:
            _as_config_error(parse_switch, key, value, ENV_SWITCHES[name])
        elif name == WORKER_MEMORY_ENV:
            _as_config_error(parse_worker_memory_mb, key, value)


def _check_setting_name(name: str, label: str, settings: list[str], uses_abc: bool) -> None:
    """An ``ABC_GRPO_*`` name this package does not read is a typo: without this check, ABC_GRPO_COMPLIE=1 would
    leave the compiled path silently off. A warning in a run that does not use abc_grpo, which it cannot affect."""
    if not name.upper().startswith(ENV_PREFIX) or name in settings:
        return
    # compared without the shared prefix (which would make every name look close to every setting) and case aside
    suffixes = {setting.removeprefix(ENV_PREFIX): setting for setting in settings}
    close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), suffixes, n=1, cutoff=0.6)
    hint = f"; did you mean {suffixes[close[0]]}?" if close else "."
    message = (f"{label} is not a setting of abc_grpo_verl{hint} Its settings are {', '.join(settings)}; "
               f"the {ENV_PREFIX} prefix is reserved for them (rename a variable of your own)")
    if not uses_abc:
        logger.warning("abc_grpo_verl: %s", message)
        return
    raise ConfigError(message)


def _as_config_error(parse: Callable[..., Any], *args: Any) -> Any:
    """What a parser of a setting returns; its ValueError (which names the setting) becomes a configuration error."""
    try:
        return parse(*args)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _apply_alias(config: DictConfig) -> None:
    """Move ``algorithm.policy_loss`` onto verl's loss_mode key and delete it, so verl's AlgoConfig never sees it.

    A loss_mode the user set explicitly (command line or a config file of theirs) to another value is an error,
    wherever each of the two was set.
    """
    algorithm = OmegaConf.select(config, "algorithm", default=None)
    if algorithm is None or "policy_loss" not in algorithm:
        return
    alias = algorithm.policy_loss
    with open_dict(config):
        if alias is not None:
            if not isinstance(alias, str):
                raise ConfigError(f"{ALIAS_KEY}={alias!r} is invalid: must be the name of a registered policy loss")
            loss_mode = OmegaConf.select(config, LOSS_MODE_KEY)
            if loss_mode != alias:
                origins = user_origins(LOSS_MODE_KEY)
                if origins is None:  # not composed by hydra: only a value other than verl's default is explicit
                    from verl.workers.config import PolicyLossConfig

                    origins = [] if loss_mode == PolicyLossConfig.loss_mode else ["the config"]
                if origins:
                    alias_origins = user_origins(ALIAS_KEY) or ["the config"]
                    raise ConfigError(
                        f"{ALIAS_KEY}={alias} (from {'; '.join(alias_origins)}) and {LOSS_MODE_KEY}={loss_mode} "
                        f"(from {'; '.join(origins)}) disagree; {ALIAS_KEY} is an alias of {LOSS_MODE_KEY}: set "
                        "one of them, or the same value in both"
                    )
            if OmegaConf.select(config, POLICY_LOSS_KEY, default=None) is None:
                # a node verl builds its own class from (without `_target_` it would hand the actor a plain dict)
                from verl.workers.config import PolicyLossConfig

                OmegaConf.update(config, POLICY_LOSS_KEY, {"_target_": _class_path(PolicyLossConfig)})
            OmegaConf.update(config, LOSS_MODE_KEY, alias)
        del algorithm["policy_loss"]


def user_origins(key: str) -> list[str] | None:
    """Where the user set `key`: command-line overrides and config files that are neither verl's nor this package's.

    None when `config` was not composed by a running hydra app (then nobody knows). Reads hydra's own defaults
    list, the one ``--info defaults`` prints, and each listed file as written.
    """
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    if not (HydraConfig.initialized() and GlobalHydra.instance().is_initialized()):
        return None
    hydra_config = HydraConfig.get()
    overrides = list(hydra_config.overrides.task)
    origins = [f"command line {override.input_line}" for override in OverridesParser.create().parse_overrides(overrides)
               if override.key_or_group == key and not override.is_delete()]
    loader = GlobalHydra.instance().config_loader()
    seen = set()
    for default in loader.compute_defaults_list(hydra_config.job.config_name, overrides, RunMode.RUN).defaults:
        package = default.package or ""
        if default.config_path is None or default.config_path.startswith("hydra/") or default.config_path in seen:
            continue
        seen.add(default.config_path)
        if package and not key.startswith(f"{package}."):
            continue
        loaded = loader.repository.load_config(default.config_path)
        if loaded is None or _is_packaged(loaded.path):
            continue
        # as written: an interpolation counts as set, and is not resolved against a file that cannot resolve it
        node = OmegaConf.to_container(loaded.config, resolve=False)
        for part in (key[len(package) + 1:] if package else key).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            origins.append(f"config file {loaded.path.removeprefix('file://')}/{default.config_path}.yaml")
    return origins


def _is_packaged(source: str) -> bool:
    """Whether a hydra config source is verl's packaged configs or this package's."""
    import verl.trainer.config

    if source.startswith("pkg://"):
        module = source[len("pkg://"):].replace("/", ".")
        return module == "verl" or module.startswith(("verl.", "abc_grpo_verl"))
    if source.startswith("file://"):
        path = Path(source[len("file://"):]).resolve()
        return path in (Path(verl.trainer.config.__file__).parent.resolve(), (Path(__file__).parent / "conf").resolve())
    return False


def _check_algorithm_keys(config: DictConfig, guarded: set[str]) -> None:
    """Keys under ``algorithm`` that verl's AlgoConfig lacks, so verl ignores them.

    Errors only where the run asked for ABC-GRPO and would silently not get it: one of this package's keys placed
    there (a bound, ``ratio_level``), the alias spelt another way (case, ``_`` and ``-`` aside: ``policyloss``), any
    ignored key set to ``abc_grpo``, and a likely misspelling of one of this package's keys in `guarded`, those the
    run reads (``clip_neg_hihg`` under the abc_grpo loss would train at that bound's default). Every other key is a
    warning, because other recipes read their own keys there: a key verl reads elsewhere (``loss_agg_mode``, the
    actor's) names that place, and a likely misspelling names the closest keys.
    """
    from hydra.utils import get_class
    from verl.workers.config import PolicyLossConfig

    algorithm = OmegaConf.select(config, "algorithm", default=None)
    target = algorithm.get("_target_", None) if algorithm is not None else None
    try:
        known = {f.name for f in dataclasses.fields(get_class(target))}
    except Exception:  # noqa: BLE001 - no dataclass target: verl does not convert this section, nothing to compare
        return
    ours = {"policy_loss": ALIAS_KEY, **{key: f"{POLICY_LOSS_KEY}.{key}" for key in ABC_POLICY_LOSS_KEYS}}
    # where verl reads a key of that name: the actor's own keys, then its PolicyLossConfig's
    actor = OmegaConf.select(config, "actor_rollout_ref.actor", default=None) or {}
    verls = {**{f.name: f"{POLICY_LOSS_KEY}.{f.name}" for f in dataclasses.fields(PolicyLossConfig)},
             **{key: f"actor_rollout_ref.actor.{key}" for key in actor}}
    verls = {key: home for key, home in verls.items() if key not in ("_target_", "policy_loss")}
    homes = {**{name: f"algorithm.{name}" for name in known}, **verls, **ours}
    by_norm = {_norm(name): home for name, home in verls.items()}
    for key in sorted(set(algorithm) - known - {"_target_"}):
        value = algorithm.get(key)
        setting = f"algorithm.{key}={value}"
        if _norm(key) in map(_norm, ours):
            home = next(home for name, home in ours.items() if _norm(name) == _norm(key))
            raise ConfigError(f"{setting} is misplaced: neither verl nor abc_grpo_verl reads it there; it belongs in "
                              f"{home}" if key in ours else
                              f"algorithm.{key} is not a key verl or abc_grpo_verl reads: did you mean {home}?")
        if _norm(key) in by_norm:
            close, hint = [], f"; verl reads it as {by_norm[_norm(key)]}"
        else:
            close = _close(key, homes)
            hint = (f"; did you mean {' or '.join(homes[name] for name in close)}?" if close
                    else " (other recipes may read their own keys there)")
        if isinstance(value, str) and value == "abc_grpo":
            raise ConfigError(f"{setting} is not a key verl or abc_grpo_verl reads, so the run would not use "
                              f"abc_grpo{hint}; {ALIAS_KEY}=abc_grpo turns it on")
        if guarded.intersection(close):
            raise ConfigError(f"{setting} is not a key verl or abc_grpo_verl reads, so this run, which uses "
                              f"abc_grpo, would ignore it{hint}")
        logger.warning("abc_grpo_verl: algorithm.%s is not a field of verl's %s, so verl ignores it%s",
                       key, target.rsplit(".", 1)[-1], hint)


def _norm(name: str) -> str:
    """A key as compared for misspellings: case, underscores and dashes aside."""
    return name.lower().replace("_", "").replace("-", "")


def _close(key: str, names: Any) -> list[str]:
    """The (at most two) names `key` probably misspells."""
    by_norm = {_norm(name): name for name in names}
    return [by_norm[match] for match in difflib.get_close_matches(_norm(key), list(by_norm), n=2, cutoff=0.8)]


def _policy_loss_node(config: DictConfig) -> DictConfig:
    """The policy_loss node; an empty one where the config has none (verl's ActorConfig then builds the defaults)."""
    node = OmegaConf.select(config, POLICY_LOSS_KEY, default=None)
    return OmegaConf.create({}) if node is None else node


def _loss_mode(config: DictConfig) -> str:
    """The loss the actor runs: the node's loss_mode, else verl's PolicyLossConfig default."""
    from verl.workers.config import PolicyLossConfig

    return _policy_loss_node(config).get("loss_mode", PolicyLossConfig.loss_mode)


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_policy_loss_node(policy_loss: DictConfig, abc_keys: list[str]) -> None:
    """The policy_loss node's class, resolved as hydra will resolve it: ABC keys under verl's own PolicyLossConfig
    point it at the subclass that declares them; a key its dataclass lacks would fail verl's constructor with no
    hint, so it is an error naming the closest valid key."""
    from hydra.utils import get_class
    from verl.workers.config import PolicyLossConfig

    from abc_grpo_verl.config import ABCPolicyLossConfig

    target = policy_loss.get("_target_", None)
    if target is None:  # no class to build: verl's ActorConfig fills in its defaults (an absent node) or not at all
        return
    try:
        cls = get_class(target)
    except Exception as error:  # noqa: BLE001 - import errors of any kind: verl's instantiate fails on them too
        raise ConfigError(f"{POLICY_LOSS_KEY}._target_={target} cannot be imported: {error}") from error
    if abc_keys and cls is PolicyLossConfig:
        with open_dict(policy_loss):
            policy_loss._target_ = _class_path(ABCPolicyLossConfig)
        logger.info("abc_grpo_verl: %s._target_ set to %s, which declares %s", POLICY_LOSS_KEY,
                    _class_path(ABCPolicyLossConfig), ", ".join(abc_keys))
        cls = ABCPolicyLossConfig
    if not dataclasses.is_dataclass(cls):
        return
    known = {f.name for f in dataclasses.fields(cls)} | {"_target_"}
    for key in sorted(set(policy_loss) - known):
        hint = _close(key, known)
        raise ConfigError(f"{POLICY_LOSS_KEY}.{key} is not a field of {target}"
                          + (f"; did you mean {POLICY_LOSS_KEY}.{hint[0]}?" if hint else
                             f"; valid: {sorted(known - {'_target_'})}"))


def _check_registered(config: DictConfig, loss_mode: str, estimator: str) -> list[str]:
    """Both names must be in verl's registries; returns notices for names the Ray workers may register later."""
    from verl.trainer.ppo import core_algos

    # modules verl imports in every Ray worker (VERL_USE_EXTERNAL_MODULES) but this process has not imported
    worker_modules = [m for m in _worker_modules(config) if m not in sys.modules]
    notices = []
    for key, name, registry, kind in ((LOSS_MODE_KEY, loss_mode, core_algos.POLICY_LOSS_REGISTRY, "policy loss"),
                                      (ESTIMATOR_KEY, estimator, core_algos.ADV_ESTIMATOR_REGISTRY,
                                       "advantage estimator")):
        if name in registry:
            continue
        if worker_modules:
            notices.append(f"{key}={name!r} is not a registered {kind} in this process; the Ray workers import "
                           f"{', '.join(worker_modules)} (VERL_USE_EXTERNAL_MODULES), which must register it")
            continue
        raise ConfigError(f"{key}={name!r} is not a registered {kind}; valid: {sorted(registry)}")
    return notices


def _worker_env(config: DictConfig, name: str) -> tuple[str | None, str]:
    """The value of environment variable `name` in the Ray workers, and where it comes from.

    ``runtime_env.env_vars`` of the config first (verl passes it to ``ray.init``). Otherwise the workers of a Ray
    cluster this run starts inherit the driver's environment (verl's ``get_ppo_ray_runtime_env`` relies on the same);
    those of a cluster started elsewhere (``ray_init.address``, ``RAY_ADDRESS``) have their nodes' environment,
    which is unknown here: None.
    """
    env_vars = OmegaConf.select(config, RUNTIME_ENV_VARS_KEY, default=None) or {}
    if name in env_vars:
        return str(env_vars[name]), f"{RUNTIME_ENV_VARS_KEY}.{name}"
    started_elsewhere = OmegaConf.select(config, "ray_kwargs.ray_init.address", default=None) or os.environ.get(
        "RAY_ADDRESS")
    if name in os.environ and not started_elsewhere:
        return os.environ[name], f"environment variable {name}"
    return None, ""


def _worker_modules(config: DictConfig) -> list[str]:
    """The modules verl imports at ``import verl`` in every Ray worker (VERL_USE_EXTERNAL_MODULES)."""
    modules, _ = _worker_env(config, "VERL_USE_EXTERNAL_MODULES")
    return [module.strip() for module in (modules or "").split(",") if module.strip()]


def _check_workers_register_abc_grpo(config: DictConfig, used: dict[str, str]) -> list[str]:
    """`used`: {config key: the plugin's loss or estimator it names}. An abc_grpo run needs this plugin imported in
    every Ray worker, which verl does at ``import verl`` through the ``verl.plugins`` entry point (unless
    ``VERL_USE_EXTERNAL_PLUGINS`` leaves it out) or ``VERL_USE_EXTERNAL_MODULES``.
    An error where the workers' environment certainly loads neither (the run would fail inside them with
    "Unsupported loss mode"); a notice where another module of VERL_USE_EXTERNAL_MODULES might.
    """
    from importlib.metadata import entry_points

    modules = _worker_modules(config)
    if set(modules) & set(REGISTERING_MODULES):
        return []
    policy, policy_origin = _worker_env(config, "VERL_USE_EXTERNAL_PLUGINS")
    # verl's rule (verl/__init__.py): "auto" loads every entry point, "none" none, else the comma-separated names
    policy = (policy or "auto").strip().lower()
    names = {point.name for point in entry_points(group="verl.plugins") if point.module == REGISTERING_MODULES[0]}
    if not names:
        reason = "abc-grpo-verl's verl.plugins entry point is not installed in this environment"
    elif policy == "none":
        reason = f"{policy_origin}=none turns verl's plugin entry points off"
    elif policy != "auto" and not names & {name.strip() for name in policy.split(",")}:
        reason = f"{policy_origin}={policy} does not list this plugin's entry point ({', '.join(sorted(names))})"
    else:
        return []
    names_used = " and ".join(dict.fromkeys(used.values()))
    used = " and ".join(f"{key}={name}" for key, name in used.items())
    if modules:
        return [f"{used}, but {reason}; the Ray workers import {', '.join(modules)} "
                "(VERL_USE_EXTERNAL_MODULES), one of which must import abc_grpo_verl.plugin"]
    declared = OmegaConf.select(config, f"{RUNTIME_ENV_VARS_KEY}.VERL_USE_EXTERNAL_MODULES", default=None) is not None
    raise ConfigError(
        f"{used}, but the Ray workers would not register {names_used}: {reason}, and VERL_USE_EXTERNAL_MODULES does "
        f"not name {REGISTERING_MODULES[0]}; add "
        f"'{'' if declared else '+'}{RUNTIME_ENV_VARS_KEY}.VERL_USE_EXTERNAL_MODULES={REGISTERING_MODULES[0]}'"
    )


def _check_agent_loops(config: DictConfig) -> list[str]:
    """A notice where an agent loop other than verl's own may run under the abc_grpo estimator on the V1 trainer.

    An agent loop may return several outputs for one session (one sampled response to a prompt). verl's V1 trainer
    scores a session by its last output and gives all its outputs that advantage, but only for ``grpo``
    (``compute_advantage_for_multi_trajectories`` in verl/trainer/ppo/v1/utils.py); under any other estimator name,
    abc_grpo included, every output is a group member of its own, which skews the group mean and std. verl's own
    agent loops return one output per session, so the two estimators agree on them (``multi_turn.enable`` and the
    tool agent included). How many outputs a loop returns shows only when it runs; the config shows only whether
    another loop may run: ``agent.default_agent_loop`` not verl's, ``agent.agent_loop_config_path`` (its loops),
    or ``agent.agent_loop_manager_class``. A dataset's per-row ``agent_name`` naming a loop that a plugin module
    registers is not visible here at all.
    """
    if not OmegaConf.select(config, "trainer.use_v1", default=True):
        return []  # the legacy trainer groups no estimator by session: grpo and abc_grpo agree there
    agent = OmegaConf.select(config, "actor_rollout_ref.rollout.agent", default=None) or {}
    key = "actor_rollout_ref.rollout.agent"
    custom = [f"{key}.{name}={agent.get(name)}" for name in ("agent_loop_config_path", "agent_loop_manager_class")
              if agent.get(name)]
    if agent.get("default_agent_loop", VERL_AGENT_LOOPS[0]) not in VERL_AGENT_LOOPS:
        custom.insert(0, f"{key}.default_agent_loop={agent.get('default_agent_loop')}")
    if not custom:
        return []
    return [f"{ESTIMATOR_KEY}=abc_grpo with {', '.join(custom)}: if an agent loop returns several outputs for one "
            f"session, verl's V1 trainer scores the session as one group member only for {ESTIMATOR_KEY}=grpo; "
            f"abc_grpo counts each output. Use {ESTIMATOR_KEY}=grpo (the same numbers otherwise) with "
            f"{LOSS_MODE_KEY}=abc_grpo"]


def _check_run_numbers(config: DictConfig, uses_abc: bool) -> None:
    """Settings verl reads without a type or range check: the GPU counts (0 ends verl's own validate_config in a
    ZeroDivisionError), and, in a run that uses abc_grpo, the learning rate (negative: gradient ascent) and the std
    switch (verl's estimator takes bool() of it, so the string 'false' means true); in other runs a warning."""
    for key in ("trainer.n_gpus_per_node", "trainer.nnodes"):
        value = OmegaConf.select(config, key, default=1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key}={value!r} is invalid: it must be an integer >= 1")
    problems = []
    lr = OmegaConf.select(config, "actor_rollout_ref.actor.optim.lr", default=None)
    number = lr
    if isinstance(lr, str):  # '${oc.env:LR}' is a string; verl's float field takes one that reads as a number
        try:
            number = float(lr)
        except ValueError:
            pass  # not a number: refused below, as written
    if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)
                               or not 0 <= number < math.inf):
        problems.append(f"actor_rollout_ref.actor.optim.lr={lr!r} is invalid: the learning rate must be a finite "
                        "number >= 0 (a negative one climbs the loss)")
    norm = OmegaConf.select(config, "algorithm.norm_adv_by_std_in_grpo", default=True)
    if not isinstance(norm, bool):
        problems.append(f"algorithm.norm_adv_by_std_in_grpo={norm!r} is a {type(norm).__name__}: it must be true or "
                        "false; verl's estimators take bool() of it, so any non-empty string means true")
    for problem in problems:
        if uses_abc:
            raise ConfigError(problem)
        logger.warning("abc_grpo_verl: %s", problem)


def _check_rollout_n(config: DictConfig, estimator: str) -> list[str]:
    """An error where n is not a count or abc_grpo has no group; a notice where verl's grpo has none."""
    from verl.workers.config import RolloutConfig

    n = OmegaConf.select(config, ROLLOUT_N_KEY, default=RolloutConfig.n)  # verl's default where the key is absent
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{ROLLOUT_N_KEY}={n!r} is invalid: the number of responses per prompt must be an "
                          "integer >= 1")
    if estimator == "abc_grpo" and n < 2:
        raise ConfigError(
            f"{ROLLOUT_N_KEY}={n} is invalid with {ESTIMATOR_KEY}=abc_grpo: the group baseline needs at least 2 "
            "responses per prompt (valid: n >= 2; the paper uses 8)"
        )
    if estimator == "grpo" and n < 2:
        return [f"{ROLLOUT_N_KEY}={n} with {ESTIMATOR_KEY}=grpo: every group is a single response, so verl's grpo "
                "uses each raw reward as its advantage (no group baseline); GRPO needs n >= 2 (the paper uses 8)"]
    return []


def check_resources(config: DictConfig) -> list[str]:
    """What the dry run can check before any GPU time: data files, the model path, the reward function.

    Raises ConfigError naming the key and the file; returns notices for what cannot be checked from here
    (remote paths, hub ids, a custom dataset class).
    """
    notices: list[str] = []
    custom_dataset = OmegaConf.select(config, "data.custom_cls.path", default=None)
    if custom_dataset:
        notices.append(f"data.custom_cls.path={custom_dataset}: the data files' columns are not checked")
    # verl's RLHFDataset reads the prompt column; its rule-based reward managers read data_source and
    # reward_model.ground_truth (a reward model, when enabled, scores without a ground truth)
    prompt_key = OmegaConf.select(config, "data.prompt_key", default="prompt")
    needs_ground_truth = not OmegaConf.select(config, "reward.reward_model.enable", default=False)
    for key in ("data.train_files", "data.val_files"):
        files = OmegaConf.select(config, key, default=None)
        files = [files] if isinstance(files, str) else list(files or [])
        if not files:
            raise ConfigError(f"{key} is empty: give one or more .parquet/.json/.jsonl files")
        for path in map(str, files):
            if REMOTE_PATH.match(path):
                notices.append(f"{key}: {path} is remote; not checked from here")
                continue
            path = path.removeprefix("file://")
            _check_home(key, path)
            if not custom_dataset:
                _check_data_file(key, Path(path), prompt_key, needs_ground_truth)
    notices += _check_model_path(OmegaConf.select(config, "actor_rollout_ref.model.path"))
    notices += _check_reward_function(config)
    return notices


def _check_home(key: str, path: str) -> None:
    """verl opens paths as written (copy_to_local, the datasets library, transformers): a leading ``~`` is a
    directory named ``~``, not the home directory."""
    if path.startswith("~") and not Path(path).exists():
        raise ConfigError(f"{key}: {path} starts with ~, which verl does not expand (it opens the path as written); "
                          "give the full path (in the shell, $HOME/... is expanded before verl sees it)")


def _check_data_file(key: str, path: Path, prompt_key: str, needs_ground_truth: bool) -> None:
    if path.suffix not in DATA_SUFFIXES:
        raise ConfigError(f"{key}: {path} is not a file verl's RLHFDataset reads (valid: {', '.join(DATA_SUFFIXES)})")
    if not path.is_file():
        raise ConfigError(f"{key}: {path} does not exist" + ("" if path.parent.is_dir() else
                                                              f" (no directory {path.parent})"))
    try:
        empty = _holds_no_rows(path)
        columns = None if empty else _columns(path)
    except Exception as error:  # noqa: BLE001 - any read failure is the same answer: verl could not read it either
        raise ConfigError(f"{key}: {path} is not readable as {path.suffix[1:]}: {error}") from error
    if empty:
        use = "train on" if key == "data.train_files" else "validate on"
        raise ConfigError(f"{key}: {path} holds no rows: verl would have nothing to {use}")
    if columns is None:
        return
    required = {prompt_key: "data.prompt_key, the chat messages", "data_source": "selects the scorer"}
    if needs_ground_truth:
        required["reward_model"] = "a struct with ground_truth, read by verl's reward managers"
    missing = [f"{name} ({why})" for name, why in required.items() if name not in columns]
    if needs_ground_truth and "reward_model" in columns and columns["reward_model"] is not None and (
            "ground_truth" not in columns["reward_model"]):
        missing.append("reward_model.ground_truth")
    if missing:
        raise ConfigError(f"{key}: {path} lacks the column(s) verl needs: {', '.join(missing)}; it has "
                          f"{sorted(columns)}")
    if columns[prompt_key] == "not a list":
        raise ConfigError(f"{key}: {path} column {prompt_key!r} must hold a list of chat messages "
                          "([{role, content}, ...]) for verl's RLHFDataset")


def _holds_no_rows(path: Path) -> bool:
    """Whether a data file has no record: a parquet file of 0 rows, a JSON file of whitespace or an empty list."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows == 0
    with path.open(encoding="utf-8") as text:
        return "".join(text.read(1 << 16).split()) in ("", "[]")  # the start only: a file may hold gigabytes


def _columns(path: Path) -> dict[str, Any] | None:
    """{column: its struct field names, "not a list" for a non-list column, or None} of a data file's first record
    (parquet: the schema only). None when a .json file holds one JSON document (its columns are not checked)."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {}
        for column in pq.read_schema(path):
            kind = column.type
            if pa.types.is_struct(kind):
                columns[column.name] = [kind.field(i).name for i in range(kind.num_fields)]
            elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
                columns[column.name] = None
            else:
                columns[column.name] = "not a list"
        return columns
    with path.open(encoding="utf-8") as lines:
        first = next((line for line in lines if line.strip()), "")
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        if path.suffix == ".json":
            return None
        raise
    if not isinstance(record, dict):
        raise ValueError("the first line is not a JSON object")
    return {name: (list(value) if isinstance(value, dict) else None if isinstance(value, list) else "not a list")
            for name, value in record.items()}


def _check_model_path(path: Any) -> list[str]:
    key = "actor_rollout_ref.model.path"
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{key}={path!r} is invalid: a local model directory or a Hugging Face hub id")
    if REMOTE_PATH.match(path):
        return [f"{key}={path} is remote; not checked from here"]
    _check_home(key, path)
    local = Path(path)
    if local.exists():
        if not (local / "config.json").is_file():
            raise ConfigError(f"{key}={path} is not a Hugging Face model directory (no config.json in it)")
        return []
    if HUB_ID.match(path) and not path.startswith("."):
        return [f"{key}={path} is not a local path: loaded from the Hugging Face hub (or its cache), not checked"]
    raise ConfigError(f"{key}={path} does not exist")


def _check_reward_function(config: DictConfig) -> list[str]:
    from verl.utils.import_utils import load_extern_object

    path = OmegaConf.select(config, "reward.custom_reward_function.path", default=None)
    name = OmegaConf.select(config, "reward.custom_reward_function.name", default="compute_score")
    if not path:
        return ["reward.custom_reward_function.path=null: verl's built-in scorer, chosen by each row's data_source"]
    try:
        function = load_extern_object(module_path=path, object_name=name)
    except Exception as error:  # noqa: BLE001 - missing file, import error, missing name: all end the run in verl
        raise ConfigError(f"reward.custom_reward_function.path={path} with name={name} does not load: "
                          f"{type(error).__name__}: {error}") from error
    if not callable(function):
        raise ConfigError(f"reward.custom_reward_function: {name} in {path} is a {type(function).__name__}, "
                          "not a function")
    return []


def resolved_essentials(config: DictConfig) -> dict[str, Any]:
    """The settings that make a run what it claims, with every default resolved to a number."""
    actor = config.actor_rollout_ref.actor
    loss_mode = _loss_mode(config)
    essentials: dict[str, Any] = {
        LOSS_MODE_KEY: loss_mode,
        ESTIMATOR_KEY: config.algorithm.adv_estimator,
        "algorithm.norm_adv_by_std_in_grpo": config.algorithm.norm_adv_by_std_in_grpo,
    }
    if loss_mode == "abc_grpo":
        bounds = resolve_bounds(actor)
        widths = (bounds.pos_high, bounds.pos_low, bounds.neg_high, bounds.neg_low)
        for name, value in zip(BOUND_FIELDS, widths, strict=True):
            essentials[f"{POLICY_LOSS_KEY}.{name}"] = value
        essentials[f"{POLICY_LOSS_KEY}.ratio_level"] = resolve_ratio_level(actor)
    else:
        for name in ("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"):
            essentials[f"actor_rollout_ref.actor.{name}"] = actor.get(name)
        if loss_mode == BASELINE_LOSS:  # the band its quadrant metrics count against (the loss is vanilla's)
            for name, value in zip(BOUND_FIELDS, resolve_bounds(actor), strict=True):
                essentials[f"{POLICY_LOSS_KEY}.{name}"] = value

    def files(key: str) -> Any:
        value = OmegaConf.select(config, key)
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_list(value) else value

    essentials.update(
        {
            "actor_rollout_ref.actor.loss_agg_mode": actor.loss_agg_mode,
            "actor_rollout_ref.actor.use_kl_loss": actor.use_kl_loss,
            "algorithm.use_kl_in_reward": config.algorithm.use_kl_in_reward,
            ROLLOUT_N_KEY: config.actor_rollout_ref.rollout.n,
            "actor_rollout_ref.model.path": config.actor_rollout_ref.model.path,
            "actor_rollout_ref.actor.optim.lr": actor.optim.lr,
            "actor_rollout_ref.rollout.temperature": config.actor_rollout_ref.rollout.temperature,
            # null means verl's built-in scorer, which knows only some data_source names
            "reward.custom_reward_function.path": OmegaConf.select(config, "reward.custom_reward_function.path"),
            "reward.custom_reward_function.name": OmegaConf.select(config, "reward.custom_reward_function.name"),
            "data.train_files": files("data.train_files"),
            "data.val_files": files("data.val_files"),
            "critic.enable": config.critic.enable,
            "trainer.n_gpus_per_node": config.trainer.n_gpus_per_node,
            "trainer.nnodes": config.trainer.nnodes,
        }
    )
    return essentials


def print_essentials(config: DictConfig, notices: list[str]) -> None:
    """The dry run's report: the resolved essentials, one ``key = value`` per line, then the notices."""
    essentials = resolved_essentials(config)
    print("abc_grpo_verl: resolved configuration")
    width = max(map(len, essentials))
    for key, value in essentials.items():
        print(f"  {key:<{width}} = {value}")
    for notice in notices:
        print(f"abc_grpo_verl: NOTICE: {notice}")
    sys.stdout.flush()
