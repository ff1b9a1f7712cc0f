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
"""The ``verl.plugins`` entry point: ``import verl`` imports this module in every process.

verl catches an entry point's exception and logs it at DEBUG level only, so a broken install would surface
much later as "Unsupported loss mode: abc_grpo" inside an actor worker, after a full rollout. This module logs
the failure at ERROR level, with its traceback, before verl swallows it. For a hard failure instead, also set
``VERL_USE_EXTERNAL_MODULES=abc_grpo_verl.plugin``: verl imports that without catching (the packaged trainer
config sets it for every Ray worker).
"""

import logging

from abc_grpo_verl import __version__

try:
    from abc_grpo_verl import algos  # noqa: F401  (importing registers the loss and the estimator)
except Exception:
    logging.getLogger("abc_grpo_verl").exception(
        "abc_grpo_verl %s failed to register the 'abc_grpo' policy loss and advantage estimator with verl; "
        "runs using them will fail with 'Unsupported loss mode'. Fix the import error above.",
        __version__,
    )
    raise


def registration_errors() -> list[str]:
    """What is missing from verl's registries for an abc_grpo run (empty when both names are registered)."""
    from verl.trainer.ppo import core_algos

    errors = []
    if core_algos.POLICY_LOSS_REGISTRY.get(algos.NAME) is not algos.compute_policy_loss_abc_grpo:
        errors.append(f"verl's policy-loss registry does not hold this plugin's '{algos.NAME}' loss")
    if core_algos.ADV_ESTIMATOR_REGISTRY.get(algos.NAME) is not algos.compute_abc_grpo_outcome_advantage:
        errors.append(f"verl's advantage-estimator registry does not hold this plugin's '{algos.NAME}' estimator")
    return errors
