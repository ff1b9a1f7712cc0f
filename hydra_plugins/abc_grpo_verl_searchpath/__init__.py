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
"""Hydra search-path plugin of abc-grpo-verl: ``abc_grpo_trainer`` and verl's configs resolve by name.

Hydra imports every module under the ``hydra_plugins`` namespace when an app starts. This one appends to the app's
config search path, at the lowest priority (after the app's own configs and any ``hydra.searchpath``):
- ``pkg://abc_grpo_verl.conf`` always, so ``python -m verl.trainer.main_ppo --config-name abc_grpo_trainer`` and
  a yaml of yours with ``defaults: [abc_grpo_trainer, _self_]`` find the packaged file;
- ``pkg://verl.trainer.config`` in a process that has imported verl (``main_ppo``, the launcher) or whose primary
  config directory is ``abc_grpo_verl.conf``, so ``ppo_trainer`` resolves from a config directory of yours without
  a ``hydra.searchpath`` in your yaml. Other hydra apps are left alone (resolving that source imports verl).
A config file may not set ``hydra.searchpath`` unless it is the primary config, which is why
``abc_grpo_trainer.yaml`` cannot carry one and still be extended.
"""

import sys
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

PROVIDER = "abc-grpo-verl"
ABC_CONFIGS = "pkg://abc_grpo_verl.conf"
VERL_CONFIGS = "pkg://verl.trainer.config"


def _is_abc_configs(path: str | None) -> bool:
    if path in (ABC_CONFIGS, "pkg://abc_grpo_verl/conf"):
        return True
    return bool(path) and path.startswith("file://") and Path(path[len("file://"):]).resolve().parts[-2:] == (
        "abc_grpo_verl", "conf")


class ABCGRPOSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        paths = [entry.path for entry in search_path.get_path()]
        primary = next((entry.path for entry in search_path.get_path() if entry.provider == "main"), None)
        if not any(map(_is_abc_configs, paths)):
            search_path.append(provider=PROVIDER, path=ABC_CONFIGS)
        if VERL_CONFIGS not in paths and ("verl" in sys.modules or _is_abc_configs(primary)):
            search_path.append(provider=PROVIDER, path=VERL_CONFIGS)
