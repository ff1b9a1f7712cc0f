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
"""The report's verdict for two single runs: a step-paired moving-block bootstrap of their difference.

Two runs of one seed each have no seed-to-seed spread to compare a difference with, and the spread of per-step
values includes the whole trend of training, so it hides real differences. What varies by chance is which steps
were sampled: pairing the runs step by step and resampling blocks of consecutive steps (long enough that the
differences of steps further apart are uncorrelated) keeps the trend paired and the autocorrelation inside blocks.
Pure numpy; the report (``abc_grpo_verl.report``) feeds it per-rollout sums.
"""

import math
from dataclasses import dataclass

import numpy as np

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
