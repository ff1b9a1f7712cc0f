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
"""Avg@k and Pass@k from per-sample correctness.

Two Pass@k estimators are reported because they answer different questions:
- ``first``: the paper's (arXiv 2601.03895, its authors' eval script) -- a problem counts as solved when one of
  its first k samples is correct. It depends on sample order, so it is noisy for k << n.
- ``unbiased``: Chen et al. 2021 -- the probability that k samples drawn without replacement from the n available
  contain a correct one, 1 - C(n-c, k) / C(n, k). It uses all n samples for every k.
Both agree at k = n. Beside them, cons@k: a problem counts as solved when the majority answer of its k samples is
correct (majority vote over the extracted answers). Every score here is a percentage.
"""

from collections.abc import Sequence


def k_grid(k_max: int) -> list[int]:
    """The Pass@k columns: 1, 2, 4, ... up to `k_max`, plus `k_max` itself when it is not a power of two."""
    if k_max < 1:
        raise ValueError(f"k must be >= 1, got {k_max}")
    ks, k = [], 1
    while k <= k_max:
        ks.append(k)
        k *= 2
    if ks[-1] != k_max:
        ks.append(k_max)
    return ks


def _check_k(k: int, n: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, n] = [1, {n}] (the number of samples), got k={k}")


def pass_at_k_unbiased(n: int, c: int, k: int) -> float:
    """Chen et al. 2021: 1 - C(n-c, k) / C(n, k) for `c` correct out of `n` samples, as a probability in [0, 1].

    The ratio is evaluated as prod_{i=n-c+1}^{n} (1 - k/i) so that no binomial is formed: C(64, 32) ~ 1.8e18 is
    already beyond the integers a float holds exactly, and C(n, k) overflows float for n in the thousands.
    """
    if not 0 <= c <= n:
        raise ValueError(f"c (correct samples) must be in [0, n] = [0, {n}], got c={c}")
    _check_k(k, n)
    if n - c < k:  # every k-subset contains a correct sample
        return 1.0
    all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        all_wrong *= 1.0 - k / i
    return 1.0 - all_wrong


def pass_at_k_first(correct: Sequence[bool], k: int) -> float:
    """1.0 when one of the first `k` samples is correct, else 0.0 (the paper's order-dependent Pass@k)."""
    _check_k(k, len(correct))
    return float(any(correct[:k]))


def majority_correct(preds: Sequence[str], correct: Sequence[bool]) -> bool:
    """Whether the majority answer among `preds` is correct: one problem's cons@k.

    Votes are the extracted answers as strings (the reward's ``pred``); samples without an answer ("") do not vote,
    and a problem where none answered counts as wrong. The vote is verl's own ``calc_maj_val`` (the majority vote of
    its validation metrics): the most frequent answer, ties going to the one seen first, scored by the correctness of
    its first sample (every sample with that answer string has the same grade). Answers that are equal but written
    differently ("1/2", "\\frac{1}{2}") are different votes, as in verl.
    """
    from verl.trainer.ppo.metric_utils import calc_maj_val  # verl is heavy to import; only needed here

    votes = [{"pred": pred, "correct": bool(ok)} for pred, ok in zip(preds, correct, strict=True) if pred]
    return bool(votes) and bool(calc_maj_val(votes, vote_key="pred", val_key="correct"))


def benchmark_metrics(correct: Sequence[Sequence[bool]], k: int, greedy: Sequence[bool] | None = None,
                      preds: Sequence[Sequence[str]] | None = None) -> dict:
    """Scores of one model on one benchmark, from ``correct[q][j]`` (problem q, sample j; the first `k` are used).

    Returns ``{"n_problems", "k", "avg@k", "pass@k_first": {k: %}, "pass@k_unbiased": {k: %}, "cons@k",
    "greedy_accuracy"}``; ``cons@k`` is None unless `preds` (the extracted answers, shaped like `correct`) is given,
    ``greedy_accuracy`` unless `greedy` (one correctness per problem) is.
    """
    if not correct:
        raise ValueError("no problems to score")
    short = [q for q, row in enumerate(correct) if len(row) < k]
    if short:
        raise ValueError(f"problems {short[:5]} have fewer than k={k} samples")
    if greedy is not None and len(greedy) != len(correct):
        raise ValueError(f"{len(greedy)} greedy results for {len(correct)} problems")
    if preds is not None and [len(row) for row in preds] != [len(row) for row in correct]:
        raise ValueError("preds must have one answer per sample of correct")
    rows = [list(row[:k]) for row in correct]
    n_problems = len(rows)
    ks = k_grid(k)
    return {
        "n_problems": n_problems,
        "k": k,
        "avg@k": 100.0 * sum(sum(row) / k for row in rows) / n_problems,
        "pass@k_first": {j: 100.0 * sum(pass_at_k_first(row, j) for row in rows) / n_problems for j in ks},
        "pass@k_unbiased": {
            j: 100.0 * sum(pass_at_k_unbiased(k, sum(row), j) for row in rows) / n_problems for j in ks
        },
        "cons@k": None if preds is None else (
            100.0 * sum(majority_correct(p[:k], row) for p, row in zip(preds, rows, strict=True)) / n_problems),
        "greedy_accuracy": None if greedy is None else 100.0 * sum(greedy) / n_problems,
    }


def average_metrics(per_benchmark: Sequence[dict]) -> dict:
    """The paper's "Average" row: the plain mean of the benchmark scores (not weighted by problem count)."""
    if not per_benchmark:
        raise ValueError("no benchmarks to average")
    first = per_benchmark[0]
    n = len(per_benchmark)

    def mean(values):
        return sum(values) / n

    def mean_or_none(key):
        values = [m[key] for m in per_benchmark]
        return None if any(v is None for v in values) else mean(values)

    return {
        "n_problems": sum(m["n_problems"] for m in per_benchmark),
        "k": first["k"],
        "avg@k": mean([m["avg@k"] for m in per_benchmark]),
        "pass@k_first": {j: mean([m["pass@k_first"][j] for m in per_benchmark]) for j in first["pass@k_first"]},
        "pass@k_unbiased": {
            j: mean([m["pass@k_unbiased"][j] for m in per_benchmark]) for j in first["pass@k_unbiased"]
        },
        "cons@k": mean_or_none("cons@k"),
        "greedy_accuracy": mean_or_none("greedy_accuracy"),
    }
