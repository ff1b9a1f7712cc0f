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
relative ``-cp`` is relative to this file, as hydra does for main_ppo), ``-m``, ``hydra.run.dir=...``. It runs what
main_ppo's ``main`` runs, with the same checks (:func:`abc_grpo_verl.validation.validate`, which the plugin also
puts behind verl's ``validate_config``), except that a configuration error exits with status 2 and one line naming
the key and the value instead of a traceback. ``algorithm.policy_loss=NAME`` needs no ``+`` here: the packaged config
declares it. ``ABC_GRPO_DRY_RUN=1`` stops after the checks and prints the resolved essentials: no Ray, no GPU.
"""

import sys

import hydra
import verl  # noqa: F401  (before hydra starts: registers abc_grpo, and lets the search-path plugin add verl's configs)
from omegaconf import DictConfig

CONFIG_PATH = "pkg://abc_grpo_verl.conf"
CONFIG_NAME = "abc_grpo_trainer"


def run(config: DictConfig) -> None:
    """main_ppo's ``main`` on a composed config: check on the driver, then ``run_ppo`` (Ray, the TaskRunner)."""
    from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils import config as verl_config
    from verl.utils.device import auto_set_device

    from abc_grpo_verl.validation import validate

    auto_set_device(config)
    # verl's own function: the plugin's wrapper around it would run the same preflight a second time
    verl_validate = getattr(verl_config.validate_config, "__wrapped__", verl_config.validate_config)
    try:
        validate(verl_validate, config=config, use_reference_policy=need_reference_policy(config),
                 use_critic=need_critic(config))
    except Exception as error:  # noqa: BLE001 - every configuration failure ends here, named, before Ray
        print(f"abc_grpo_verl: configuration error: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(2)
    if config.trainer.use_v1:
        run_ppo(config, task_runner_class=TaskRunnerV1)
    else:
        from verl.trainer.main_ppo_v0 import TaskRunner

        run_ppo(config, task_runner_class=TaskRunner)


@hydra.main(config_path=CONFIG_PATH, config_name=CONFIG_NAME, version_base=None)
def main(config: DictConfig) -> None:
    run(config)


if __name__ == "__main__":
    main()
