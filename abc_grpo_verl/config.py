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
"""ABC-GRPO configuration: the four clip widths, their defaults and their validation.

The widths live in ``actor_rollout_ref.actor.policy_loss`` (verl ships that node to every actor worker).
Pointing its ``_target_`` at :class:`ABCPolicyLossConfig` makes hydra accept the new keys, and the dataclass
rejects bad values when the config is built: on the driver in verl's ``validate_config``, before Ray starts.
"""

import math
import os
from dataclasses import dataclass
from numbers import Real
from typing import Any, Optional

from verl.workers.config import PolicyLossConfig

from abc_grpo_verl.core import RATIO_LEVELS, ClipBounds

POLICY_LOSS_KEY = "actor_rollout_ref.actor.policy_loss"
ACTOR_KEY = "actor_rollout_ref.actor"

# The environment switches this package reads, with their defaults (unset = default).
COMPILE_ENV = "ABC_GRPO_COMPILE"  # 1: the loss step runs through torch.compile (fused kernels)
DRY_RUN_ENV = "ABC_GRPO_DRY_RUN"  # 1: stop after the checks, before Ray, and print the resolved essentials
PREFLIGHT_ENV = "ABC_GRPO_PREFLIGHT"  # 0: leave verl's validate_config unwrapped (the plugin only registers)
ENV_SWITCHES = {COMPILE_ENV: False, DRY_RUN_ENV: False, PREFLIGHT_ENV: True}
# Any other ABC_GRPO_* name (any case) is a typo to the preflight: a misspelt switch would otherwise go unnoticed.
ENV_PREFIX = "ABC_GRPO_"
SWITCH_VALUES = {"1": True, "true": True, "0": False, "false": False}

# field -> (paper symbol, quadrant it bounds, actor field it defaults to)
BOUND_FIELDS = {
    "clip_pos_high": ("eps1", "Q1: A>0, r above 1+eps1", "clip_ratio_high"),
    "clip_pos_low": ("eps2", "Q2: A>0, r below 1-eps2", "clip_ratio_low"),
    "clip_neg_high": ("eps3", "Q4: A<0, r above 1+eps3", "clip_ratio_high"),
    "clip_neg_low": ("eps4", "Q3: A<0, r below 1-eps4", "clip_ratio_low"),
}
# The band each loss logs every step, so that a report can name (and compare) the band its quadrant metrics count
# against: the abc_grpo loss's is the band it trains with; the abc_grpo_vanilla baseline's only a reporting band
# (its loss is verl's vanilla). Two names, so that a log says which loss ran.
BAND_METRICS = tuple(f"actor/abc_band_{eps}" for eps, *_ in BOUND_FIELDS.values())
REPORT_BAND_METRICS = tuple(f"actor/abc_report_band_{eps}" for eps, *_ in BOUND_FIELDS.values())


def parse_switch(label: str, value: Any, default: bool) -> bool:
    """`value` of a switch as a bool: 0/1/true/false, any case; anything else raises ValueError naming `label`."""
    if isinstance(value, str) and value.lower() in SWITCH_VALUES:
        return SWITCH_VALUES[value.lower()]
    raise ValueError(
        f"{label}={value!r} is invalid: valid values are 0, 1, true, false (any case), "
        f"or unset for the default ({int(default)})"
    )


def env_switch(name: str, default: bool) -> bool:
    """The environment switch `name`: `default` when unset, else :func:`parse_switch` of its value.

    One parser for every ``ABC_GRPO_*`` switch, so ``''``, ``yes`` or ``2`` are errors everywhere, never a silent 0.
    """
    value = os.environ.get(name)
    return default if value is None else parse_switch(f"environment variable {name}", value, default)


# YAML's spellings of +infinity; on the command line hydra passes `.inf` through as a string.
INFINITY_SPELLINGS = {".inf", "inf", "+inf", "+.inf", "infinity", "+infinity"}


def check_clip_width(key: str, value: Any, field: str, origin: str = "") -> float:
    """Return `value` as a float if it is a valid width for `field` (set through `key`), else raise ValueError.

    Upper widths (``*_high``) accept (0, inf]; inf (``.inf``) leaves that side unbounded. Lower widths
    (``*_low``) accept (0, 1]: the band's lower edge 1 - width must stay in [0, 1). `origin` says where a
    defaulted value came from, for the error message.
    """
    symbol = BOUND_FIELDS[field][0]
    is_low = field.endswith("_low")
    valid_range = "(0, 1]" if is_low else "(0, .inf] (.inf = unbounded)"
    if not is_low and isinstance(value, str) and value.strip().lower() in INFINITY_SPELLINGS:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(
            f"{key}={value!r} is invalid{origin}: {symbol} must be a number in {valid_range}, "
            f"got a {type(value).__name__}"
        )
    width = float(value)
    if math.isnan(width) or width <= 0 or (is_low and width > 1):
        raise ValueError(f"{key}={value!r} is invalid{origin}: {symbol} must be in {valid_range}")
    return width


def check_ratio_level(key: str, value: Any) -> str:
    """Return `value` if it names a ratio level, else raise ValueError naming the key."""
    if value not in RATIO_LEVELS:
        raise ValueError(f"{key}={value!r} is invalid: must be one of {list(RATIO_LEVELS)}")
    return value


@dataclass
class ABCPolicyLossConfig(PolicyLossConfig):
    """verl's ``PolicyLossConfig`` plus the knobs of the ``abc_grpo`` loss.

    Parameters that set the ABC-GRPO band (paper Eq. 5/8; the band is [1 - low, 1 + high], picked by sign(A)):

    Args:
        clip_pos_high (Optional[float]): eps1, upper width for A > 0; tokens above it (Q1) get no gradient.
            In (0, inf]. Default null = the actor's ``clip_ratio_high`` (0.2, the paper's value).
        clip_pos_low (Optional[float]): eps2, lower width for A > 0; tokens below it (Q2, the "blind spot"
            PPO never clips) get no gradient. In (0, 1]; 1 leaves Q2 open as PPO does.
            Default null = the actor's ``clip_ratio_low`` (0.2).
        clip_neg_high (Optional[float]): eps3, upper width for A <= 0; tokens above it (Q4, PPO's unbounded
            side) get no gradient. In (0, inf]; verl's dual-clip ``clip_ratio_c`` c is eps3 = c - 1.
            Default null = the actor's ``clip_ratio_high`` (0.2).
        clip_neg_low (Optional[float]): eps4, lower width for A <= 0; tokens below it (Q3) get no gradient.
            In (0, 1]. Default null = the actor's ``clip_ratio_low`` (0.2).
        ratio_level (str): "token" (default, the paper: one ratio per token) or "sequence" (GSPO-style
            length-normalised sequence ratio; a whole sequence is inside or outside its band).
    """

    # Optional[...] as in verl's own config dataclasses: OmegaConf 2.3's structured configs predate `float | None`
    clip_pos_high: Optional[float] = None  # noqa: UP045
    clip_pos_low: Optional[float] = None  # noqa: UP045
    clip_neg_high: Optional[float] = None  # noqa: UP045
    clip_neg_low: Optional[float] = None  # noqa: UP045
    ratio_level: str = "token"

    def __post_init__(self):
        # Hydra's instantiate does no type checks ("abc" arrives as a string), so every value is checked here.
        # Fields are frozen after init (verl's BaseConfig), hence object.__setattr__ for the float coercion.
        for name in BOUND_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_clip_width(f"{POLICY_LOSS_KEY}.{name}", value, name))
        check_ratio_level(f"{POLICY_LOSS_KEY}.ratio_level", self.ratio_level)


def resolve_bounds(actor_config: Any) -> ClipBounds:
    """The four widths the loss uses, with nulls replaced by the actor's ``clip_ratio_high``/``clip_ratio_low``.

    Works on verl's ``ActorConfig`` dataclass and on the composed DictConfig node alike (both have ``.get``),
    and on a plain ``PolicyLossConfig`` (``loss_mode=abc_grpo`` without the ``_target_`` override), where
    every width takes its default. Raises ValueError naming the key whose value is out of range.
    """
    policy_loss = actor_config.get("policy_loss", None)
    clip_ratio = actor_config.get("clip_ratio", 0.2)
    widths = {}
    for name, (_, _, actor_field) in BOUND_FIELDS.items():
        value = policy_loss.get(name, None) if policy_loss is not None else None
        key, origin = f"{POLICY_LOSS_KEY}.{name}", ""
        if value is None:
            # Same fallback chain as verl's vanilla loss: clip_ratio_high/low, else clip_ratio.
            value, key = actor_config.get(actor_field, None), f"{ACTOR_KEY}.{actor_field}"
            if value is None:
                value, key = clip_ratio, f"{ACTOR_KEY}.clip_ratio"
            origin = f" as the default of {POLICY_LOSS_KEY}.{name}"
        widths[name] = check_clip_width(key, value, name, origin)
    return ClipBounds(
        pos_high=widths["clip_pos_high"],
        pos_low=widths["clip_pos_low"],
        neg_high=widths["clip_neg_high"],
        neg_low=widths["clip_neg_low"],
    )


def resolve_ratio_level(actor_config: Any) -> str:
    """The configured ratio level ("token" when the policy_loss node has no such field)."""
    policy_loss = actor_config.get("policy_loss", None)
    value = policy_loss.get("ratio_level", "token") if policy_loss is not None else "token"
    return check_ratio_level(f"{POLICY_LOSS_KEY}.ratio_level", value)
