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
"""Launcher: ``python -m abc_grpo_verl.train [hydra flags] [overrides]``: verl's PPO trainer on ``abc_grpo_trainer``.

A hydra application over the packaged config, as ``verl.trainer.main_ppo`` is over ``ppo_trainer``, so every hydra
flag works as there: ``--help``, ``--cfg job``, ``--info``, ``-cp``/``-cn`` (a directory, or ``pkg://module``; a
relative ``-cp`` is relative to this file, as hydra does for main_ppo), ``-m``, ``hydra.run.dir=...``. It runs
main_ppo's own ``main`` on the composed config, whose ``validate_config`` is the plugin's wrapper
(:func:`abc_grpo_verl.validation.validate`), always: ``ABC_GRPO_PREFLIGHT=0`` concerns plain verl only. A
configuration error found by those checks exits with status 2 and one line naming the key and the value instead of
a traceback; any other exception keeps its traceback. ``algorithm.policy_loss=NAME`` needs no ``+`` here: the
packaged config declares it. ``ABC_GRPO_DRY_RUN=1`` stops after the checks and prints the resolved essentials: no
Ray, no GPU.
"""

import sys
import traceback

import hydra
import verl  # noqa: F401  (before hydra starts: registers abc_grpo, and lets the search-path plugin add verl's configs)
from omegaconf import DictConfig

CONFIG_PATH = "pkg://abc_grpo_verl.conf"
CONFIG_NAME = "abc_grpo_trainer"


def run(config: DictConfig) -> None:
    """main_ppo's ``main`` on a composed config: the checks on the driver, then ``run_ppo`` (Ray, the TaskRunner)."""
    from hydra.errors import InstantiationException

    from abc_grpo_verl.plugin import install_preflight

    # before main_ppo binds verl's validate_config at import (the entry point did this already, unless it is off)
    if not install_preflight(required=True):
        sys.exit(2)  # the plugin has logged why
    from verl.trainer import main_ppo

    if not getattr(main_ppo.validate_config, "abc_grpo_verl_preflight", False):
        print("abc_grpo_verl: verl.trainer.main_ppo was imported before abc_grpo_verl.plugin and holds verl's "
              "validate_config unchecked; import the plugin first", file=sys.stderr)
        sys.exit(2)
    try:
        main_ppo.main.__wrapped__(config)  # verl's function under its @hydra.main, so the launcher follows verl
    except (ValueError, AssertionError, InstantiationException) as error:
        # what config checks raise: ConfigError (a ValueError), verl's asserts and ValueErrors, and hydra's
        # InstantiationException from verl building its config dataclasses; only when raised inside the checks, not
        # by a training run that raises the same types
        if not _raised_by_the_checks(error):
            raise
        print(f"abc_grpo_verl: configuration error: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(2)


def _raised_by_the_checks(error: BaseException) -> bool:
    """Whether `error` came out of :func:`abc_grpo_verl.validation.validate` (the preflight or verl's own checks)."""
    from abc_grpo_verl.validation import validate

    return any(frame.f_code is validate.__code__ for frame, _ in traceback.walk_tb(error.__traceback__))


@hydra.main(config_path=CONFIG_PATH, config_name=CONFIG_NAME, version_base=None)
def main(config: DictConfig) -> None:
    run(config)


if __name__ == "__main__":
    main()
