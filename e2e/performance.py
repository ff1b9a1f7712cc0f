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
"""The cost of ABC-GRPO against the baselines in one `make e2e`: verl's actor-update and step times, and the peak
memory of each run's processes, as ratios to GRPO.

    python e2e/performance.py runs/e2e

Times are the minimum over the steps after the first of each invocation (the first holds vLLM's and the engine's
warm-up, and a resumed run warms up again): the least disturbed measurement on a shared machine. The runs sample
different responses (vLLM's sampling is not reproducible across runs), so the actor update is also given per token
(verl's `timing_per_token_ms/update_actor`). Writes RUNS/performance.md and prints it.
"""

import json
import sys
from pathlib import Path

from run import RUNS

BASELINE = "grpo"
TIMINGS = {"actor update (s)": "timing_s/update_actor",
           "actor update per token (ms)": "timing_per_token_ms/update_actor", "whole step (s)": "timing_s/step",
           "generation (s)": "timing_s/gen"}


def later_steps(run_dir: Path) -> list[dict]:
    """The metrics of every step but the first of each invocation (each `file` logger log is one invocation)."""
    later = []
    for log in sorted((run_dir / "train_logs").glob("*/*/*.jsonl")):
        records = [json.loads(line)["data"] for line in log.read_text().splitlines() if line.strip()]
        later += records[1:]
    return later


def figures(root: Path) -> dict[str, dict[str, float]]:
    invocations = json.loads((root / "runs.json").read_text())
    table = {}
    for run in RUNS:
        if not (root / run).is_dir():
            continue
        later = later_steps(root / run)
        if not later:
            sys.exit(f"performance: {root / run} has no invocation of 2 or more logged steps; run e2e/run.py first")
        row = {label: min(record[key] for record in later) for label, key in TIMINGS.items()}
        row["peak memory, PSS (GB)"] = max(i["peak_pss_gb"] for i in invocations if i["run"] == run)
        table[run] = row
    return table


def markdown(table: dict[str, dict[str, float]]) -> str:
    runs = list(table)
    lines = ["| figure | " + " | ".join(runs) + " | " + " | ".join(f"{run} / {BASELINE}" for run in runs
                                                               if run != BASELINE) + " |",
             "|---" * (1 + 2 * len(runs) - 1) + "|"]
    for figure in next(iter(table.values())):
        values = [table[run][figure] for run in runs]
        ratios = [table[run][figure] / table[BASELINE][figure] for run in runs if run != BASELINE]
        lines.append(f"| {figure} | " + " | ".join(f"{v:.3g}" for v in values) + " | "
                     + " | ".join(f"{r:.2f}x" for r in ratios) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python e2e/performance.py RUNS_DIR")
    root = Path(args[0])
    table = figures(root)
    if BASELINE not in table:
        sys.exit(f"performance: no {BASELINE} run under {root}; it is the baseline the ratios divide by")
    text = markdown(table)
    (root / "performance.md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
