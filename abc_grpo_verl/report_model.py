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
"""What the training-dynamics report draws: every log mapped onto verl's metric names, a run's curves, and how the
report names metrics, formats values and states the band a run's Q1..Q4 shares count against. Shared by the readers
(``report_readers``), the statistics (``report_stats``), the summary (``report_summary``) and the figure
(``abc_grpo_verl.report``)."""

import math
from dataclasses import dataclass, field

import numpy as np

from abc_grpo_verl.report_checks import split_finite

# ----------------------------------------------------------------------------------------------------------------
# What the report draws. Every log is mapped onto verl's metric names (the ones an ABC-GRPO run on verl logs).

ENTROPY = "actor/entropy"
REWARD = "critic/score/mean"
LENGTH = "response_length/mean"
TRUNCATED = "response_length/clip_ratio"  # share of responses that hit the length limit
QUADRANTS = tuple(f"actor/abc_clipfrac_q{q}" for q in range(1, 5))
# The split the authors log: Q1+Q3 (`ppo_style`, PPO clips these too) and Q2+Q4 (`overcorrection`, only ABC does).
PPO_STYLE = "Q1+Q3"
OVERCORRECTION = "Q2+Q4"
PG_CLIPFRAC = "actor/pg_clipfrac"
PPO_KL = "actor/ppo_kl"
GRAD_NORM = "actor/grad_norm"
VALIDATION = "val-core/"  # verl's prefix for the headline validation metrics; the demo's held-out pass@k joins them
# Raw token counts per quadrant and of valid tokens, each averaged over a step's micro-batches like the shares:
# their ratio is the step's exact token-pooled share, where the mean of per-micro-batch shares is only close to it.
CLIP_TOKENS = tuple(f"actor/abc_clip_tokens_q{q}" for q in range(1, 5))
VALID_TOKENS = "actor/abc_valid_tokens"
# The band eps1..eps4 each of our losses logs (abc_grpo_verl/config.py): the abc_grpo loss the band it trains with,
# a baseline trained with abc_grpo_vanilla (abc_grpo_verl/baseline.py) the reporting band its counts refer to.
LOSS_BAND = tuple(f"actor/abc_band_eps{q}" for q in range(1, 5))
REPORT_BAND = tuple(f"actor/abc_report_band_eps{q}" for q in range(1, 5))
PAPER_EPS = 0.2  # the authors' four widths, and the demo's
LR = "actor/lr"  # verl's; TRL's learning_rate maps onto it
# Groups whose responses all got the same reward: zero advantage, no gradient (TRL's name; verl logs no equivalent).
ZERO_STD = "frac_reward_zero_std"
# The sampler-vs-trainer gap, under each framework's own definition (they are not the same quantity, so each has its
# panel): TRL's mean |log p_vLLM - log p_trainer| per token; verl's mean |p_rollout - p_trainer| per token, and, with
# rollout correction on, its mean |log-perplexity difference| per sequence.
LOGP_GAP = "sampling/sampling_logp_difference/mean"
VERL_PROBS_GAP = "training/rollout_probs_diff_mean"
VERL_LOG_PPL_GAP = "rollout_corr/log_ppl_abs_diff"
# The demo's restoring-force measurements (abc_grpo_verl/demo.py, `band_*` in its metrics.jsonl).
BAND_OUT = tuple(f"band/out_q{q}" for q in range(1, 5))
BAND_RETURN = tuple(f"band/return_q{q}" for q in range(1, 5))

QUADRANT_TITLES = ("Q1: A>0, r>1+ε1", "Q2: A>0, r<1−ε2", "Q3: A<0, r<1−ε4", "Q4: A<0, r>1+ε3")
# (key, panel title); validation panels are added after the reward, one per metric found
PANELS = (
    (ENTROPY, "entropy (nats/token)"),
    (REWARD, "train reward (mean score)"),
    (LENGTH, "response length (tokens)"),
    (TRUNCATED, "truncated responses (share)"),
    *((key, f"{title} (share of tokens)") for key, title in zip(QUADRANTS, QUADRANT_TITLES, strict=True)),
    (PPO_STYLE, "Q1+Q3, the authors' ppo_style (share)"),
    (OVERCORRECTION, "Q2+Q4, the authors' overcorrection (share)"),
    (PG_CLIPFRAC, "pg_clipfrac, the loss's own (ABC: Q1..Q4; vanilla: Q1+Q3)"),
    (PPO_KL, "ppo_kl"),
    (GRAD_NORM, "grad norm"),
    (ZERO_STD, "groups with no reward spread (share; no gradient)"),
    (LOGP_GAP, "sampler vs trainer log-prob gap, mean abs per token (TRL)"),
    (VERL_PROBS_GAP, "rollout vs trainer prob gap, mean abs per token (verl)"),
    (VERL_LOG_PPL_GAP, "rollout vs trainer log-ppl gap, mean abs per sequence (verl)"),
    (LR, "learning rate"),
    *((BAND_OUT[q], f"time out of band, {QUADRANT_TITLES[q][:2]} (share of token-steps)") for q in (1, 3)),
    *((BAND_RETURN[q], f"back in band after own update, {QUADRANT_TITLES[q][:2]}") for q in (1, 3)),
)
SHARES = {TRUNCATED, *QUADRANTS, PPO_STYLE, OVERCORRECTION, PG_CLIPFRAC, ZERO_STD, *BAND_OUT, *BAND_RETURN}
SMOOTH = 5.0  # default trailing window, in rollout steps
FINAL_SHARE = 0.1  # "last 10%": the window of a run's final steps that its end-of-training numbers average over

EXPECTED = (
    'one of: verl\'s file-logger JSON lines ({"step": N, "data": {...}} per line), the demo\'s metrics.jsonl, '
    'the evaluation\'s sweep.jsonl, or a Hugging Face trainer_state.json (with "log_history"; plain or .gz)'
)


@dataclass
class Curve:
    """One metric of one seed over training.

    x is in rollout steps (verl's `global_steps`); a log with several optimizer steps per rollout (TRL) puts its
    optimizer step k at k / steps_per_generation. A share pooled from counts keeps its numerator and denominator
    per point (y = num / den), so that a window's share is sum(num) / sum(den).
    """

    x: np.ndarray
    y: np.ndarray
    num: np.ndarray | None = None
    den: np.ndarray | None = None


def curve_of(points: list[tuple[float, float]]) -> Curve:
    x, y = zip(*points, strict=True)
    return Curve(np.asarray(x, dtype=float), np.asarray(y, dtype=float))


def ratio_curve(points: list[tuple[float, float, float]]) -> Curve:
    """A share from (x, numerator, denominator) points; y is NaN where the denominator is 0."""
    x, num, den = (np.asarray(v, dtype=float) for v in zip(*points, strict=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return Curve(x, np.where(den > 0, num / den, np.nan), num, den)


def add_curves(a: Curve, b: Curve) -> Curve:
    """a + b on the same steps (pooled counts add up over the same denominator)."""
    if not np.array_equal(a.x, b.x):
        raise ValueError("curves to add must share their steps")
    if a.num is not None and b.num is not None:
        return Curve(a.x, a.y + b.y, a.num + b.num, a.den)
    return Curve(a.x, a.y + b.y)


def with_quadrant_sums(curves: dict[str, Curve]) -> dict[str, Curve]:
    for key, (first, second) in ((PPO_STYLE, (0, 2)), (OVERCORRECTION, (1, 3))):
        if QUADRANTS[first] in curves and QUADRANTS[second] in curves:
            curves[key] = add_curves(curves[QUADRANTS[first]], curves[QUADRANTS[second]])
    return curves


@dataclass
class Run:
    """One training run: its curves per seed, and its cumulative token count per seed (for a token x axis)."""

    label: str
    source: str  # the file and its format, as the summary states it
    group: str  # runs are compared within their group: the group's first run with each other one
    seeds: dict[int, dict[str, Curve]]
    tokens: dict[int, Curve] = field(default_factory=dict)
    reference: bool = False  # the authors' runs: drawn dashed
    band: tuple[float, ...] | None = None  # the band eps1..eps4 its quadrant metrics count against
    band_is_loss: bool = True  # the band its own loss clips at; False: a baseline's reporting band
    # metric -> (the step from which it stays NaN/inf, or None if it recovered; how many of its points were not)
    nonfinite: dict[str, tuple[float | None, int]] = field(default_factory=dict)

    def curves(self, key: str) -> list[Curve]:
        return [curves[key] for curves in self.seeds.values() if key in curves]

    def metric_keys(self) -> set[str]:
        return set().union(*(curves.keys() for curves in self.seeds.values()))



def finite_curve(found: list[tuple], key: str, nonfinite: dict, ratio: bool = False) -> Curve | None:
    """The curve of `found`'s finite points; NaN/inf points are left out and recorded in `nonfinite` (a diverged run
    is said to be one, never shown with its last finite value as final)."""
    finite, diverged, bad = split_finite(found)
    if bad:
        nonfinite[key] = (diverged, bad)
    if not finite:
        return None
    return ratio_curve(finite) if ratio else curve_of(finite)


def diverged_at(run: Run, key: str) -> float | None:
    """The step from which `run`'s `key` stays NaN/inf to the end of its log, or None."""
    return run.nonfinite.get(key, (None, 0))[0]


def fmt(value: float, key: str, half: float = math.nan) -> str:
    """A value in the key's unit (shares in %), with its 95% interval half-width when there is one."""
    if math.isnan(value):
        return "–"
    scale, unit = (100.0, "%") if key in SHARES else (1.0, "")

    def number(v, digits):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"

    text = number(scale * value, 3) + unit
    return text if math.isnan(half) else f"{text} ± {number(scale * half, 2)}{unit}"


# The summary's name of each metric.
NAMES = {
    ENTROPY: "entropy",
    REWARD: "reward",
    LENGTH: "response length",
    TRUNCATED: "truncated",
    **{key: f"Q{q} share of tokens" for q, key in enumerate(QUADRANTS, start=1)},
    PPO_STYLE: "Q1+Q3 share of tokens",
    OVERCORRECTION: "Q2+Q4 share of tokens",
    PG_CLIPFRAC: "pg_clipfrac (the loss's own)",
    LR: "learning rate",
    ZERO_STD: "groups with no reward spread",
    LOGP_GAP: "sampler vs trainer log-prob gap (TRL)",
    VERL_PROBS_GAP: "rollout vs trainer prob gap (verl)",
    VERL_LOG_PPL_GAP: "rollout vs trainer log-ppl gap (verl)",
    PPO_KL: "ppo_kl",
    GRAD_NORM: "grad norm",
    **{key: f"time out of band, Q{q}" for q, key in enumerate(BAND_OUT, start=1)},
    **{key: f"back in band after own update, Q{q}" for q, key in enumerate(BAND_RETURN, start=1)},
}
def name(key: str) -> str:
    return NAMES.get(key, key.removeprefix(VALIDATION))


TITLE_WIDTH = 180  # characters per line of the figure's heading: what its 19-inch width holds at 10 pt


def band_lines(runs: list[Run]) -> list[str]:
    """The figure's band statement: one line per distinct band, naming the runs that share it."""
    by_note = {}
    for run in runs:
        by_note.setdefault(band_note(run), []).append(run.label)
    return [f"Q1..Q4 band of {', '.join(labels)}: {note}" for note, labels in by_note.items()]


def share_tick(value: float, _position=None) -> str:
    """A share's tick label in %, with as many digits as its own magnitude needs (0.001%, 0.01%, 1%)."""
    return f"{100 * value:.3g}%"


def band_note(run: Run) -> str:
    """Which band a run's Q1..Q4 shares refer to, as the figure and the summary state it."""
    has = [key for key in QUADRANTS if run.curves(key)]
    if len(has) == 4 and run.band is not None:
        widths = f"ε1..ε4 = {', '.join(f'{eps:g}' for eps in run.band)}"
        if not run.band_is_loss:
            return f"{widths} (reporting band; the loss: verl's vanilla)"
        if "demo metrics" in run.source:
            return f"{widths} for every method (the demo's band)"
        return f"{widths}, the authors' setting" if run.reference else f"{widths}, the band its abc_grpo loss clips at"
    if len(has) == 4:
        return "the band of its own abc_grpo loss (not logged)"
    if has:
        quadrants = ", ".join("Q" + key[-1] for key in has)
        return f"{quadrants} only (TRL's high/low means, at its own clip); no Q2/Q4 logged"
    if run.curves(PPO_STYLE):
        return "Q1+Q3 = its pg_clipfrac (--vanilla); no Q2/Q4 logged"
    return "no quadrant metrics logged"
