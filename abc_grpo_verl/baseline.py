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
"""The ``abc_grpo_vanilla`` policy loss: verl's ``vanilla`` loss, unchanged, plus ABC-GRPO's quadrant metrics.

A GRPO or dual-clip baseline trained with it takes exactly the loss and gradient of ``loss_mode=vanilla`` (the
loss tensor returned is the one verl's registered ``vanilla`` function returns), and logs, beside vanilla's own
``pg_clipfrac``/``ppo_kl``/``pg_clipfrac_lower``, how many tokens sit in each quadrant outside a reporting band
eps1..eps4: where an ABC-GRPO run with that band would have zeroed their gradient. The band is read from the same
keys as the abc_grpo loss's (``policy_loss.clip_pos_high`` ...), null = the actor's ``clip_ratio_high``/``low``;
it changes no number of the loss, only what the metrics count. Importing this module registers the loss.
"""

from typing import Any

import torch
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.core_algos import register_policy_loss
from verl.workers.config import ActorConfig

from abc_grpo_verl.config import POLICY_LOSS_KEY, REPORT_BAND_METRICS, resolve_bounds, resolve_ratio_level
from abc_grpo_verl.core import QUADRANTS, abc_token_loss

NAME = "abc_grpo_vanilla"
VANILLA = "vanilla"


@register_policy_loss(NAME)
def compute_policy_loss_abc_grpo_vanilla(
    old_log_prob: torch.Tensor,
    log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    loss_agg_mode: str = "token-mean",
    config: ActorConfig | None = None,
    rollout_is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """verl's ``vanilla`` loss, and the Q1..Q4 token counts against the reporting band.

    Args: as verl's ``vanilla`` (which reads ``clip_ratio_low``/``high``/``c`` from `config`); the band comes from
        ``config.policy_loss.clip_{pos,neg}_{high,low}``, null = ``clip_ratio_high``/``clip_ratio_low``.

    Returns:
        pg_loss: `(torch.Tensor)` the very tensor verl's registered ``vanilla`` returns.
        metrics: vanilla's own, plus ``actor/abc_clipfrac_q1`` .. ``_q4`` (shares of the micro-batch's valid
            tokens), ``actor/abc_clip_tokens_q1`` .. ``_q4`` and ``actor/abc_valid_tokens`` (the counts, as the
            abc_grpo loss logs them) and ``actor/abc_report_band_eps1`` .. ``_eps4`` (the band).
    """
    if config is None:
        raise ValueError(f"the {NAME} policy loss needs the actor config (config=...) to read its reporting band")
    if resolve_ratio_level(config) != "token":
        raise ValueError(f"{POLICY_LOSS_KEY}.ratio_level must be 'token' with loss_mode={NAME}: verl's vanilla "
                         "loss takes one ratio per token, and the quadrant counts follow it")
    bounds = resolve_bounds(config)
    # looked up at call time: whatever the installed verl registers as vanilla is what the baseline trains with
    pg_loss, metrics = core_algos.get_policy_loss_fn(VANILLA)(
        old_log_prob=old_log_prob, log_prob=log_prob, advantages=advantages, response_mask=response_mask,
        loss_agg_mode=loss_agg_mode, config=config, rollout_is_weights=rollout_is_weights,
    )
    with torch.no_grad():  # the counts only: nothing of this reaches the loss or its graph
        quadrants = abc_token_loss(log_prob, old_log_prob, advantages, response_mask, bounds).quadrants
        counts = torch.stack([response_mask.bool().sum(), *(q.sum() for q in quadrants)]).double().tolist()
    valid, *counts = counts

    def share(count: float) -> float:
        return count / valid if valid > 0 else 0.0

    return pg_loss, {
        **metrics,
        **{f"actor/abc_clipfrac_{q}": share(count) for q, count in zip(QUADRANTS, counts, strict=True)},
        **{f"actor/abc_clip_tokens_{q}": count for q, count in zip(QUADRANTS, counts, strict=True)},
        "actor/abc_valid_tokens": valid,
        **dict(zip(REPORT_BAND_METRICS, bounds, strict=True)),
    }
