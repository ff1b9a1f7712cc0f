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
"""How sure a score is: percentile-bootstrap intervals over problems, and paired differences between models.

Every score here is a mean over a benchmark's problems of one value per problem, computed from that problem's k
samples: its share of correct samples (Avg@k), whether one of its first k samples is correct (Pass@k, the paper's
estimator, at k = the number of samples), whether its majority answer is correct (cons@k).

- **Unit**: the problem. A replicate draws as many problems as the benchmark has, with replacement, each drawn
  problem bringing its k samples as a unit, and recomputes the mean. The interval therefore covers both the
  sampling noise of the k completions and the luck of which problems make up the benchmark: it answers "what would
  this score be on another draw of problems like these, sampled again", the question behind comparing two runs.
- **Interval**: the percentile interval of `resamples` replicates (the (1 - level)/2 and (1 + level)/2 quantiles,
  numpy's linear interpolation).
- **Paired differences**: models evaluated on the same benchmark share the replicate draws (the same problems in
  every replicate), so a difference's replicate is the difference of the two models' replicates on the same
  problems, which removes the problem-to-problem spread both models share.
- **Average over benchmarks** (the paper's plain mean): benchmarks are resampled independently (a stratified
  bootstrap); a replicate of the Average is the plain mean of the benchmarks' replicates.
- **Seed**: benchmark `name` is resampled with numpy's PCG64 seeded from SHA-256 of ``"<seed>/<name>"``, so the
  draws are the same for every model of a run and on every rerun.
"""

import hashlib
from collections.abc import Sequence

import numpy as np

from .metrics import majority_correct

# The per-problem values, in the column order of `problem_values`.
STATISTICS = ("avg@k", "pass@k", "cons@k")
DEFAULT_RESAMPLES = 10_000
DEFAULT_LEVEL = 0.95
# Indices drawn per chunk of replicates (bounds memory on large benchmarks: GSM8K has 1319 problems).
_CHUNK_ELEMENTS = 1 << 21


def problem_values(correct: Sequence[Sequence[bool]], preds: Sequence[Sequence[str]], k: int) -> np.ndarray:
    """``[problem, statistic]`` values (columns as STATISTICS) from the first `k` samples of each problem."""
    rows = []
    for ok, answers in zip(correct, preds, strict=True):
        if len(ok) < k or len(answers) < k:
            raise ValueError(f"every problem needs k={k} samples, got {min(len(ok), len(answers))}")
        first = [bool(x) for x in ok[:k]]
        rows.append((sum(first) / k, float(any(first)), float(majority_correct(answers[:k], first))))
    if not rows:
        raise ValueError("no problems")
    return np.asarray(rows, dtype=np.float64)


def resampling_seed(seed: int, benchmark: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{benchmark}".encode()).digest()[:8], "little")


def bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """``[replicate, column]``: the column means of `values` (``[problem, column]``) over `resamples` draws of the
    problems with replacement; every column sees the same draws."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError(f"values must be [problem, column] with at least one problem, got shape {values.shape}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = values.shape[0]
    rng = np.random.Generator(np.random.PCG64(seed))
    chunk = max(1, _CHUNK_ELEMENTS // n)
    out = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        drawn = rng.integers(0, n, size=(size, n))
        # How often each problem was drawn in each replicate; the replicate mean is then one matrix product.
        counts = np.bincount((drawn + n * np.arange(size)[:, None]).ravel(), minlength=size * n).reshape(size, n)
        out.append(counts @ values / n)
    return np.concatenate(out)


def percentile_interval(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) along axis 0: the (1 - level)/2 and (1 + level)/2 quantiles of the replicates."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    low, high = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return low, high


def verdict(low: float, high: float, base: str, other: str, level: float) -> str:
    """Plain words for an interval of ``other - base``."""
    percent = f"{100 * level:g}%"
    if low > 0:
        return f"{other} higher, {percent} CI excludes 0"
    if high < 0:
        return f"{base} higher, {percent} CI excludes 0"
    return f"no clear difference ({percent} CI includes 0)"


def _interval_dict(replicates: np.ndarray, level: float) -> dict:
    low, high = percentile_interval(replicates, level)
    return {stat: [100.0 * float(low[i]), 100.0 * float(high[i])] for i, stat in enumerate(STATISTICS)}


def analyse(values: dict[str, dict[str, np.ndarray]], seed: int, resamples: int = DEFAULT_RESAMPLES,
            level: float = DEFAULT_LEVEL, average: str | None = None) -> dict:
    """Intervals for every model and benchmark, and paired differences for every pair of models.

    `values` is ``{benchmark: {model: problem_values(...)}}``, the same models (in the same order) on every
    benchmark. With `average` (the Average row's name) and several benchmarks, the Average is analysed too.

    Returns ``{"intervals": {benchmark: {model: {statistic: [low, high]}}}, "comparisons": [{"benchmark", "base",
    "other", "statistic", "difference", "ci", "verdict"}]}``, in percent; a comparison is ``other - base`` for each
    pair of models in the given order.
    """
    replicates, points = {}, {}
    for benchmark, per_model in values.items():
        models = list(per_model)
        stacked = np.concatenate([per_model[m] for m in models], axis=1)
        boot = bootstrap_means(stacked, resamples, resampling_seed(seed, benchmark))
        width = len(STATISTICS)
        replicates[benchmark] = {m: boot[:, i * width : (i + 1) * width] for i, m in enumerate(models)}
        points[benchmark] = {m: per_model[m].mean(axis=0) for m in models}
    if average is not None and len(values) > 1:
        benchmarks = list(values)
        models = list(values[benchmarks[0]])
        replicates[average] = {m: np.mean([replicates[b][m] for b in benchmarks], axis=0) for m in models}
        points[average] = {m: np.mean([points[b][m] for b in benchmarks], axis=0) for m in models}

    intervals, comparisons = {}, []
    for benchmark, per_model in replicates.items():
        intervals[benchmark] = {m: _interval_dict(boot, level) for m, boot in per_model.items()}
        models = list(per_model)
        for i, base in enumerate(models):
            for other in models[i + 1 :]:
                low, high = percentile_interval(per_model[other] - per_model[base], level)
                difference = points[benchmark][other] - points[benchmark][base]
                for s, stat in enumerate(STATISTICS):
                    comparisons.append({
                        "benchmark": benchmark, "base": base, "other": other, "statistic": stat,
                        "difference": 100.0 * float(difference[s]),
                        "ci": [100.0 * float(low[s]), 100.0 * float(high[s])],
                        "verdict": verdict(float(low[s]), float(high[s]), base, other, level),
                    })
    return {"intervals": intervals, "comparisons": comparisons}
