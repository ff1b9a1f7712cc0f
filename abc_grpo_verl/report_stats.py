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
"""The report's statistics: a run's value over a window (per seed, pooled where counts exist), 95% t-intervals over
seeds, and the verdict for two single runs: a step-paired moving-block bootstrap of their difference.

Two runs of one seed each have no seed-to-seed spread to compare a difference with, and the spread of per-step
values includes the whole trend of training, so it hides real differences. What varies by chance is which steps
were sampled: pairing the runs step by step and resampling blocks of consecutive steps (long enough that the
differences of steps further apart are uncorrelated) keeps the trend paired and the autocorrelation inside blocks.
Pure numpy; `run_rollout_sums` turns a run's curves into the per-rollout sums the bootstrap takes.
"""

import math
from dataclasses import dataclass

import numpy as np

from abc_grpo_verl.report_model import (
    FINAL_SHARE,
    QUADRANTS,
    Curve,
    Run,
)

RESAMPLES = 2000
SEED = 0  # fixed: the same logs give the same interval
MIN_STEPS = 10  # fewer paired rollout steps than this: no verdict
MIN_BLOCKS = 3  # fewer blocks than this in the series: the resampling has nothing to vary, no verdict


@dataclass
class Bootstrap:
    """The difference a - b over the paired steps and its 95% percentile interval (NaN where there is none)."""

    difference: float
    low: float
    high: float
    steps: int
    block: int

    @property
    def judged(self) -> bool:
        return not math.isnan(self.low)

    @property
    def differs(self) -> bool:
        return self.judged and (self.low > 0 or self.high < 0)


def rollout_sums(xs, nums, dens, start: float, end: float) -> dict[int, tuple[float, float]]:
    """Per rollout step in the window (start, end]: (sum of numerators, sum of denominators) over every point and
    seed that falls in it. A point at optimizer position x belongs to rollout ceil(x) (TRL logs k / G)."""
    sums: dict[int, list[float]] = {}
    for x, num, den in zip(xs, nums, dens, strict=True):
        for xi, ni, di in zip(x, num, den, strict=True):
            if start < xi <= end and di > 0 and math.isfinite(ni):
                entry = sums.setdefault(math.ceil(xi - 1e-9), [0.0, 0.0])
                entry[0] += ni
                entry[1] += di
    return {step: (n, d) for step, (n, d) in sums.items()}


def block_length(differences: np.ndarray) -> int:
    """The first lag at which the differences' autocorrelation falls below 2 / sqrt(n) (no longer distinguishable
    from 0), at least n^(1/3) (the usual minimum for a moving-block bootstrap: in a short window the autocorrelation
    is too noisy to trust a shorter block) and at most n // 2: a trend gives long blocks, hence an honest, wide
    interval."""
    n = len(differences)
    shortest = max(1, math.ceil(n ** (1 / 3)))
    centred = differences - differences.mean()
    variance = float(centred @ centred)
    if variance == 0 or n < 4:
        return min(shortest, max(1, n // 2))
    threshold = 2 / math.sqrt(n)
    lag = next((lag for lag in range(1, n // 2) if float(centred[:-lag] @ centred[lag:]) / variance < threshold),
               n // 2)
    return min(max(lag, shortest), max(1, n // 2))


def paired_block_bootstrap(a: dict[int, tuple[float, float]], b: dict[int, tuple[float, float]]) -> Bootstrap:
    """a - b over the rollout steps both have, each side pooled as sum(num) / sum(den), with a moving-block bootstrap
    interval: every replicate draws blocks of consecutive steps (circularly) and pools both runs over the same
    drawn steps."""
    steps = sorted(set(a) & set(b))
    a_num, a_den = (np.array([a[s][i] for s in steps], dtype=float) for i in (0, 1))
    b_num, b_den = (np.array([b[s][i] for s in steps], dtype=float) for i in (0, 1))
    n = len(steps)
    if n == 0:
        return Bootstrap(math.nan, math.nan, math.nan, 0, 0)
    difference = a_num.sum() / a_den.sum() - b_num.sum() / b_den.sum()
    block = block_length(a_num / a_den - b_num / b_den)
    if n < MIN_STEPS or n // block < MIN_BLOCKS:
        return Bootstrap(float(difference), math.nan, math.nan, n, block)
    rng = np.random.default_rng(SEED)
    per_replicate = math.ceil(n / block)
    starts = rng.integers(0, n, size=(RESAMPLES, per_replicate))
    index = ((starts[:, :, None] + np.arange(block)) % n).reshape(RESAMPLES, -1)[:, :n]
    replicates = a_num[index].sum(1) / a_den[index].sum(1) - b_num[index].sum(1) / b_den[index].sum(1)
    low, high = np.percentile(replicates, [2.5, 97.5])
    return Bootstrap(float(difference), float(low), float(high), n, block)


# ----------------------------------------------------------------------------------------------------------------
# Statistics.


def t_quantile(p: float, df: int) -> float:
    """The p-quantile (p > 0.5) of Student's t with `df` degrees of freedom.

    With T = sqrt(df) tan(theta), theta has density proportional to cos(theta)^(df - 1) on [0, pi/2) for |T|, so
    one smooth integral on a bounded interval gives the quantile (to ~1e-6, no scipy needed).
    """
    theta = np.linspace(0.0, np.pi / 2, 200_001)
    density = np.cos(theta) ** (df - 1)
    cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2)])
    return math.sqrt(df) * math.tan(np.interp(2 * p - 1, cdf / cdf[-1], theta))


def mean_ci(values) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (NaN for a single value)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), math.nan
    return float(values.mean()), t_quantile(0.975, len(values) - 1) * float(values.std(ddof=1)) / math.sqrt(len(values))


def in_window(curve: Curve, start: float, end: float) -> np.ndarray:
    return (curve.x > start) & (curve.x <= end)


def window_value(curve: Curve, start: float, end: float) -> float:
    """The metric over the points with start < x <= end: pooled sum(num) / sum(den) where counts exist, else the
    mean of the logged values."""
    mask = in_window(curve, start, end)
    if curve.num is not None:
        den = curve.den[mask].sum()
        return float(curve.num[mask].sum() / den) if den > 0 else math.nan
    values = curve.y[mask]
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else math.nan


def final_value(curve: Curve, end: float) -> float:
    mask = (curve.x <= end) & ~np.isnan(curve.y)
    return float(curve.y[mask][-1]) if mask.any() else math.nan


def last_x(run: Run, key: str) -> float:
    return min(curve.x[-1] for curve in run.curves(key))


def first_x(run: Run, key: str) -> float:
    return max(curve.x[0] for curve in run.curves(key))


def span(runs: list[Run], key: str) -> tuple[float, float]:
    """The steps every run has (start, end]; the start is just below the first point, so it is included."""
    return max(first_x(r, key) for r in runs) - 1e-9, min(last_x(r, key) for r in runs)


def final_window(start: float, end: float) -> tuple[float, float]:
    return end - FINAL_SHARE * (end - start), end


def last_rollout(end: float) -> tuple[float, float]:
    """The last rollout up to `end`: its optimizer steps sit in (ceil(end) - 1, ceil(end)] (TRL logs step k at
    k / G)."""
    return math.ceil(end - 1e-9) - 1, end


def per_seed(run: Run, key: str, statistic: str, start: float, end: float) -> dict[int, float]:
    """One number per seed: "first", "final" (the value at the last step <= end), "rollout" (the mean over the last
    rollout <= end), "last" (the last 10% of the span), "mean" (the whole span), "max"."""
    values = {}
    for seed, curves in run.seeds.items():
        if key not in curves:
            continue
        curve = curves[key]
        if statistic == "first":
            values[seed] = float(curve.y[in_window(curve, start, end)][0])
        elif statistic == "final":
            values[seed] = final_value(curve, end)
        elif statistic == "rollout":
            values[seed] = window_value(curve, *last_rollout(end))
        elif statistic == "last":
            values[seed] = window_value(curve, *final_window(start, end))
        elif statistic == "mean":
            values[seed] = window_value(curve, start, end)
        elif statistic == "max":
            values[seed] = float(np.nanmax(curve.y[in_window(curve, start, end)]))
    return values


def clipped_shares(run: Run) -> dict[int, np.ndarray]:
    """Per seed: each quadrant's share of all out-of-band tokens over the run, pooled: sum over steps of the
    quadrant's count (or, without counts, its share of tokens) / the same sum over the four quadrants."""
    shares = {}
    for seed, curves in run.seeds.items():
        if all(key in curves for key in QUADRANTS):
            totals = np.array(
                [np.nansum(curves[k].num if curves[k].num is not None else curves[k].y) for k in QUADRANTS]
            )
            if totals.sum() > 0:
                shares[seed] = totals / totals.sum()
    return shares


def run_rollout_sums(run: Run, key: str, start: float, end: float) -> dict[int, tuple[float, float]]:
    """Per rollout step in (start, end], over its seeds: (sum of counts, sum of valid tokens) for pooled shares, else
    (sum of values, number of values), so that each side of a bootstrap replicate is what `window_value` computes."""
    curves = run.curves(key)
    nums = [c.num if c.num is not None else c.y for c in curves]
    dens = [c.den if c.den is not None else np.where(np.isnan(c.y), 0.0, 1.0) for c in curves]
    return rollout_sums([c.x for c in curves], nums, dens, start, end)
