"""docs/study/multiplicity.py: Student's t against printed tables, Holm against a hand computation, the parser on
the report's own row format."""

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "study" / "multiplicity.py"


@pytest.fixture(scope="module")
def multiplicity():
    spec = importlib.util.spec_from_file_location("study_multiplicity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("df, quantile", [(1, 12.706), (4, 2.776), (10, 2.228), (30, 2.042)])
def test_t_quantile_matches_printed_tables(multiplicity, df, quantile):
    assert multiplicity.t_quantile_975(df) == pytest.approx(quantile, abs=1e-3)


def test_t_cdf_closed_form_at_four_degrees_of_freedom(multiplicity):
    # With 4 degrees of freedom the CDF has a closed form: F(t) = 1/2 + 3u/4 - u^3/4, u = t / sqrt(t^2 + 4).
    for t in (-3.0, -0.5, 0.0, 0.7, 2.132, 5.0):
        u = t / math.sqrt(t * t + 4)
        exact = 0.5 + 0.75 * u - 0.25 * u**3
        assert multiplicity.t_cdf(t, 4) == pytest.approx(exact, abs=1e-9)


def test_holm_by_hand(multiplicity):
    # sorted p: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06)
    assert multiplicity.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert multiplicity.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_parses_the_reports_rows_and_skips_identical_runs(multiplicity):
    lines = [
        "### a vs b",
        "| entropy, last 10% (steps 180..199) | 0.28 | 0.27 | 0.0106 | **yes**: 95% CI 0.000798 .. 0.0203; "
        "higher in 4 of 5 seeds |",
        "| Q2 share of tokens, mean over steps (steps 0..199) | 0.1% | 0.1% | 0% | no: 95% CI -1% .. 3%; "
        "higher in 3 of 5 seeds |",
        "### c vs d",
        "| reward, last 10% (steps 180..199) | 0.6 | 0.6 | 0 | no: 95% CI 0 .. 0; higher in 0 of 5 seeds |",
    ]
    tests = multiplicity.paired_tests(lines)
    assert [(t["pair"], t["yes"]) for t in tests] == [("a vs b", True), ("a vs b", False)]
    # mean 0.010549, half-width 0.009751 = 2.77645 se: t = 3.0037 on 4 df; two-sided p from the closed form above
    u = 3.00370 / math.sqrt(3.00370**2 + 4)
    assert tests[0]["p"] == pytest.approx(2 * (0.5 - 0.75 * u + 0.25 * u**3), rel=1e-3)
    t = 1.0 / (2.0 / 2.77645)  # mean 1 (%), half-width 2 (%)
    u = t / math.sqrt(t * t + 4)
    assert tests[1]["p"] == pytest.approx(2 * (0.5 - 0.75 * u + 0.25 * u**3), rel=1e-3)
