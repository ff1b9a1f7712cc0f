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
"""Holm's correction over every paired test of a report's "How the runs differ" tables.

    python docs/study/multiplicity.py docs/study/dynamics.md

The report prints, per compared metric, the paired 95% t-interval of the per-seed differences ("95% CI lo .. hi;
higher in k of n seeds"). From that interval the t statistic and its two-sided p-value follow (n - 1 degrees of
freedom); Holm's step-down adjustment then controls the family-wise error over all of them. The intervals are
printed to 3 significant figures, so each p-value carries that rounding. A difference of exactly 0 in every seed
(bit-identical runs) is no test and is left out of the family.
"""

from __future__ import annotations

import math
import re
import sys

ROW = re.compile(
    r"^\| (?P<metric>[^|]+?) \|.*\| (?P<verdict>\*\*yes\*\*|no): 95% CI (?P<lo>\S+) \.\. (?P<hi>\S+); "
    r"higher in \d+ of (?P<n>\d+) seeds \|$"
)
HEADING = re.compile(r"^### (?P<pair>.+)$")
ALPHA = 0.05


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom, by bisection on the CDF."""
    lo, hi = 0.0, 100.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < 0.975 else (lo, mid)
    return (lo + hi) / 2


def t_cdf(t: float, df: int) -> float:
    """Student's t CDF by Simpson's rule on the density from 0 to |t| (plenty for 3-figure inputs)."""
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def density(x: float) -> float:
        return math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))

    x, steps = abs(t), 2000
    h = x / steps
    area = density(0) + density(x) + sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    half = area * h / 3
    return 0.5 + half if t >= 0 else 0.5 - half


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order."""
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def paired_tests(lines: list[str]) -> list[dict]:
    tests, pair = [], None
    for line in lines:
        if heading := HEADING.match(line):
            pair = heading["pair"]
        elif pair and (row := ROW.match(line)):
            lo, hi = (float(row[end].rstrip("%")) for end in ("lo", "hi"))
            df = int(row["n"]) - 1
            se = (hi - lo) / 2 / t_quantile_975(df)
            if lo == hi == 0:  # bit-identical runs (the one-update control): nothing was tested
                continue
            p = 2 * (1 - t_cdf(abs((lo + hi) / 2 / se), df)) if se > 0 else 0.0
            tests.append(dict(pair=pair, metric=row["metric"], yes=row["verdict"] != "no", p=p))
    return tests


def main(path: str) -> None:
    with open(path) as f:
        tests = paired_tests(f.read().splitlines())
    if not tests:
        raise SystemExit(f"{path}: no paired 95% intervals found")
    for test, adjusted in zip(tests, holm([t["p"] for t in tests]), strict=True):
        test["holm"] = adjusted
    print(f"{len(tests)} paired tests; {sum(t['yes'] for t in tests)} with a 95% interval excluding 0; "
          f"{sum(t['holm'] < ALPHA for t in tests)} of those survive Holm at {ALPHA}.\n")
    print("| comparison | metric | p | Holm p | survives |")
    print("|---|---|---|---|---|")
    for t in tests:
        if t["yes"]:
            print(f"| {t['pair']} | {t['metric']} | {t['p']:.2g} | {t['holm']:.2g} | "
                  f"{'yes' if t['holm'] < ALPHA else 'no'} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python docs/study/multiplicity.py <report dynamics.md>")
    main(sys.argv[1])
