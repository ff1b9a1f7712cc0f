"""cons@k and the bootstrap intervals of `abc_grpo_verl.evaluation.uncertainty`: hand-computed values on small cases,
the bootstrap distribution against an exact enumeration and the closed-form bootstrap variance of a mean, and a
coverage simulation with known per-problem success rates (problems drawn from a Beta population, whose Avg@k and
Pass@k have closed forms)."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from abc_grpo_verl.evaluation.metrics import average_metrics, benchmark_metrics, majority_correct
from abc_grpo_verl.evaluation.uncertainty import (
    STATISTICS,
    analyse,
    bootstrap_means,
    percentile_interval,
    problem_values,
    resampling_seed,
    verdict,
)

# ---------------------------------------------------------------------------------------------- cons@k


@pytest.mark.parametrize("preds, correct, expected", [
    (["3", "3", "2", "5"], [False, False, True, False], False),  # majority "3" is wrong, though one sample is right
    (["2", "7", "2", "9"], [True, False, True, False], True),
    (["", "", "", "2"], [False, False, False, True], True),  # samples without an answer do not vote
    (["", "", "", ""], [False] * 4, False),  # nobody answered
    (["4", "2", "2", "4"], [False, True, True, False], False),  # a tie goes to the answer seen first ("4")
    (["2", "4", "4", "2"], [True, False, False, True], True),
    (["1/2", "\\frac{1}{2}", "0.3", "0.3"], [True, True, False, False], False),  # equal values, different votes
])
def test_majority_vote_hand_computed(preds, correct, expected):
    assert majority_correct(preds, correct) is expected


def test_cons_at_k_in_the_benchmark_metrics():
    correct = [[True, False, True, False], [False, False, True, False], [False] * 4]
    preds = [["2", "7", "2", "9"], ["3", "3", "2", "5"], ["", "", "", ""]]
    m = benchmark_metrics(correct, 4, preds=preds)
    assert m["cons@k"] == pytest.approx(100 / 3)
    # only the first k samples vote: with k = 2, problem 0 is a tie between "2" (right, first) and "7"
    assert benchmark_metrics(correct, 2, preds=preds)["cons@k"] == pytest.approx(100 / 3)
    assert benchmark_metrics(correct, 4)["cons@k"] is None
    assert average_metrics([m, benchmark_metrics([[True] * 4], 4, preds=[["1"] * 4])])["cons@k"] == pytest.approx(
        (100 / 3 + 100) / 2)
    with pytest.raises(ValueError, match="one answer per sample"):
        benchmark_metrics(correct, 4, preds=[["1"]] * 3)


def test_problem_values_hand_computed():
    values = problem_values([[True, False, True, False], [False] * 4, [False, False, False, True]],
                            [["2", "7", "2", "9"], ["1", "1", "", ""], ["", "", "", "8"]], k=4)
    assert STATISTICS == ("avg@k", "pass@k", "cons@k")
    np.testing.assert_array_equal(values, [[0.5, 1, 1], [0, 0, 0], [0.25, 1, 1]])
    # first k only: with k = 2, problem 2 has no correct sample and no answer
    np.testing.assert_array_equal(problem_values([[False, False, False, True]], [["", "", "", "8"]], k=2), [[0, 0, 0]])
    with pytest.raises(ValueError, match="k=4 samples"):
        problem_values([[True] * 3], [["1"] * 3], k=4)


# ---------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_distribution_matches_an_exact_enumeration():
    # Three problems scoring 0, 0.5 and 1: a replicate mean is the mean of 3 draws with replacement, whose exact
    # distribution is the 27 equally likely ordered draws.
    values = np.array([[0.0], [0.5], [1.0]])
    exact = Counter(round(sum(d) / 3, 9) for d in itertools.product([0.0, 0.5, 1.0], repeat=3))
    replicates = bootstrap_means(values, 40_000, seed=1)[:, 0]
    observed = Counter(np.round(replicates, 9).tolist())
    assert set(observed) == set(exact)
    for mean, count in exact.items():
        p = count / 27
        assert observed[mean] / 40_000 == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / 40_000))


def test_bootstrap_variance_of_a_mean_is_the_plug_in_variance_over_n():
    rng = np.random.default_rng(0)
    values = rng.random((30, 1))
    replicates = bootstrap_means(values, 20_000, seed=2)[:, 0]
    plug_in = values[:, 0].var() / 30  # the bootstrap variance of a mean, exactly: (1/n) * (1/n) sum (v - mean)^2
    assert replicates.var() == pytest.approx(plug_in, rel=0.05)
    assert replicates.mean() == pytest.approx(values.mean(), abs=4 * math.sqrt(plug_in / 20_000))


def test_bootstrap_draws_are_shared_by_columns_and_fixed_by_the_seed():
    values = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 0.5], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
    a = bootstrap_means(values, 500, seed=3)
    np.testing.assert_array_equal(a, bootstrap_means(values, 500, seed=3))
    assert not np.array_equal(a, bootstrap_means(values, 500, seed=4))
    shifted = bootstrap_means(np.column_stack([values[:, 0], values[:, 0] + 0.25]), 500, seed=3)
    np.testing.assert_allclose(shifted[:, 1] - shifted[:, 0], 0.25)  # same problems in both columns
    np.testing.assert_array_equal(bootstrap_means(np.array([[0.7]]), 5, seed=0), [[0.7]] * 5)
    assert resampling_seed(0, "aime24") != resampling_seed(0, "aime25") != resampling_seed(1, "aime25")
    with pytest.raises(ValueError, match="resamples must be >= 1"):
        bootstrap_means(values, 0, seed=0)


def test_percentile_interval_and_verdicts():
    low, high = percentile_interval(np.arange(101.0)[:, None], 0.95)
    assert (low[0], high[0]) == (pytest.approx(2.5), pytest.approx(97.5))
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        percentile_interval(np.zeros((3, 1)), 1.0)
    assert verdict(0.01, 0.2, "grpo", "abc", 0.95) == "abc higher, 95% CI excludes 0"
    assert verdict(-0.2, -0.01, "grpo", "abc", 0.9) == "grpo higher, 90% CI excludes 0"
    assert verdict(-0.1, 0.2, "grpo", "abc", 0.95) == "no clear difference (95% CI includes 0)"
    assert verdict(0.0, 0.2, "grpo", "abc", 0.95) == "no clear difference (95% CI includes 0)"


def test_analyse_pairs_models_on_the_same_problems():
    # A solves problems 0-9 of 20, B the same ten plus 10-14: B is higher on every replicate that draws one of
    # 10-14, and never lower. C equals A. With a second benchmark the Average is the plain mean, resampled per stratum.
    a = np.array([[1.0, 1.0, 1.0]] * 10 + [[0.0, 0.0, 0.0]] * 10)
    b = a.copy()
    b[10:15] = 1.0
    values = {"x": {"A": a, "B": b, "C": a.copy()}, "y": {"A": a[:4], "B": a[:4], "C": a[:4]}}
    result = analyse(values, seed=0, resamples=2000, level=0.95, average="Average")
    assert list(result["intervals"]) == ["x", "y", "Average"]
    assert result["intervals"]["y"]["A"] == {s: [100.0, 100.0] for s in STATISTICS}
    rows = {(c["benchmark"], c["base"], c["other"], c["statistic"]): c for c in result["comparisons"]}
    assert len(rows) == 3 * 3 * 3  # (x, y, Average) x (A-B, A-C, B-C) x statistics
    ab = rows[("x", "A", "B", "avg@k")]
    assert ab["difference"] == pytest.approx(25.0)
    assert 0 < ab["ci"][0] < 25 < ab["ci"][1] <= 50
    assert ab["verdict"] == "B higher, 95% CI excludes 0"
    assert rows[("x", "B", "C", "pass@k")]["verdict"] == "B higher, 95% CI excludes 0"  # C - B < 0: base B higher
    assert rows[("x", "A", "C", "cons@k")] | {"ci": None} == {
        "benchmark": "x", "base": "A", "other": "C", "statistic": "cons@k", "difference": 0.0, "ci": None,
        "verdict": "no clear difference (95% CI includes 0)"}
    assert rows[("Average", "A", "B", "avg@k")]["difference"] == pytest.approx(12.5)  # (25 + 0) / 2
    # y is constant at 100, so every replicate of the Average is (x + 100) / 2, and so are its quantiles
    x_low, x_high = result["intervals"]["x"]["A"]["avg@k"]
    assert result["intervals"]["Average"]["A"]["avg@k"] == pytest.approx([(x_low + 100) / 2, (x_high + 100) / 2])


def beta_moment(a: float, b: float, n: int) -> float:
    """E[(1 - p)^n] for p ~ Beta(a, b): B(a, b + n) / B(a, b)."""
    return math.exp(math.lgamma(b + n) + math.lgamma(a + b) - math.lgamma(b) - math.lgamma(a + b + n))


def test_intervals_cover_the_truth_at_about_their_nominal_rate():
    # Problems are drawn from a population with p ~ Beta(0.6, 1.4); model A solves a problem with probability p,
    # model B with 1 - (1 - p)^2 (two tries of A). Every target then has a closed form: Avg@k of A is E[p],
    # Pass@k of A is 1 - E[(1-p)^k], and B's scores and the difference B - A follow from E[(1-p)^n].
    a, b, n_problems, k, simulations = 0.6, 1.4, 40, 8, 300
    truth = {
        ("A", "avg@k"): a / (a + b),
        ("A", "pass@k"): 1 - beta_moment(a, b, k),
        ("B", "avg@k"): 1 - beta_moment(a, b, 2),
        ("B", "pass@k"): 1 - beta_moment(a, b, 2 * k),
    }
    truth[("B-A", "avg@k")] = truth[("B", "avg@k")] - truth[("A", "avg@k")]
    rng = np.random.default_rng(2026)
    covered = Counter()
    for simulation in range(simulations):
        p = rng.beta(a, b, n_problems)
        values = {}
        for model, rate in (("A", p), ("B", 1 - (1 - p) ** 2)):
            samples = rng.random((n_problems, k)) < rate[:, None]
            values[model] = np.column_stack([samples.mean(1), samples.any(1), np.zeros(n_problems)])
        result = analyse({"sim": values}, seed=simulation, resamples=1000, level=0.95)
        for model in ("A", "B"):
            for stat in ("avg@k", "pass@k"):
                low, high = result["intervals"]["sim"][model][stat]
                covered[(model, stat)] += low <= 100 * truth[(model, stat)] <= high
        (difference,) = [c for c in result["comparisons"] if c["statistic"] == "avg@k"]
        covered[("B-A", "avg@k")] += difference["ci"][0] <= 100 * truth[("B-A", "avg@k")] <= difference["ci"][1]
    rates = {key: count / simulations for key, count in covered.items()}
    # 300 simulations: a true 95% rate is observed within about +-3.5 points (3 standard errors); the percentile
    # bootstrap at 40 problems is known to run a little below nominal.
    assert all(0.90 <= rate <= 0.985 for rate in rates.values()), rates
