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

Two things happen here, nothing else:

1. The ``abc_grpo`` policy loss and advantage estimator are registered with verl (importing ``algos``). verl
   catches an entry point's exception and logs it at DEBUG level only, so a broken install would surface much later
   as "Unsupported loss mode: abc_grpo" inside an actor worker; this module logs the failure at ERROR level, with
   its traceback, before verl swallows it. For a hard failure instead, also set
   ``VERL_USE_EXTERNAL_MODULES=abc_grpo_verl.plugin``: verl imports that without catching (the packaged trainer
   config sets it for every Ray worker).
2. ``verl.utils.config.validate_config`` (and its re-export ``verl.utils.validate_config``) is replaced by a wrapper
   that runs :func:`abc_grpo_verl.validation.validate`: this package's preflight, then verl's own function
   unchanged. verl's ``main_ppo`` binds the name when it is imported, which is after ``import verl`` has run this
   module, so plain ``python -m verl.trainer.main_ppo`` runs the checks on the driver, before Ray.
   ``ABC_GRPO_PREFLIGHT=0`` leaves verl's checks as they are, with none of this package's (the launcher,
   ``abc_grpo_verl.train``, runs them anyway): its wrapper then only refuses what would need the preflight
   (``ABC_GRPO_DRY_RUN=1``, the ``algorithm.policy_loss`` alias), which would otherwise be ignored without a word.
   If verl moves or renames it, an ERROR says so.
"""

import functools
import logging

from abc_grpo_verl import __version__
from abc_grpo_verl.config import ENV_SWITCHES, PREFLIGHT_ENV, env_switch

logger = logging.getLogger("abc_grpo_verl")

try:
    from abc_grpo_verl import algos  # noqa: F401  (importing registers the loss and the estimator)
except Exception:
    logger.exception(
        "abc_grpo_verl %s failed to register the 'abc_grpo' policy loss and advantage estimator with verl; "
        "runs using them will fail with 'Unsupported loss mode'. Fix the import error above.",
        __version__,
    )
    raise


def install_preflight(required: bool = False) -> bool:
    """Wrap verl's ``validate_config`` once (a reload or a second import keeps the first wrapper).

    `required`: the launcher's call, which wraps it whatever ``ABC_GRPO_PREFLIGHT`` says (the switch is for plain
    verl; the launcher exists to check). Returns whether verl's function is wrapped with the preflight now (with the
    switch off, it gets only the guard of :func:`abc_grpo_verl.validation.refuse_without_preflight`).
    """
    try:
        enabled = required or env_switch(PREFLIGHT_ENV, ENV_SWITCHES[PREFLIGHT_ENV])
    except ValueError as error:
        # an exception here would be swallowed by verl; the preflight itself reports the bad value as an error
        logger.error("abc_grpo_verl: %s", error)
        enabled = True
    try:
        from verl import utils as verl_utils
        from verl.utils import config as verl_config

        original = current = verl_config.validate_config
    except (ImportError, AttributeError) as error:
        if not enabled:
            return False
        logger.error(
            "abc_grpo_verl %s: verl.utils.config.validate_config is gone from this verl (%s): plain verl.trainer."
            "main_ppo will NOT run the ABC-GRPO preflight (algorithm.policy_loss is not honoured, bad bounds reach "
            "the workers), and abc_grpo_verl.train refuses to run. Update abc-grpo-verl.",
            __version__, error,
        )
        return False
    if getattr(current, "abc_grpo_verl_preflight", False):
        return True
    guarded = getattr(current, "abc_grpo_verl_guard", False)
    original = current.__wrapped__ if guarded else current  # verl's own function under the guard
    if not enabled:
        logger.info("abc_grpo_verl: %s=0: no ABC-GRPO preflight; verl's validate_config runs as it is, after a check "
                    "that nothing asks for the preflight", PREFLIGHT_ENV)
        if guarded:
            return False

    @functools.wraps(original)
    def validate_config(*args, **kwargs):
        from abc_grpo_verl.validation import refuse_without_preflight, validate

        if not enabled:
            refuse_without_preflight(original, *args, **kwargs)
            return original(*args, **kwargs)
        return validate(original, *args, **kwargs)

    if enabled:
        validate_config.abc_grpo_verl_preflight = True
    else:
        validate_config.abc_grpo_verl_guard = True
    verl_config.validate_config = validate_config
    if getattr(verl_utils, "validate_config", None) is current:
        verl_utils.validate_config = validate_config
    return enabled


install_preflight()
