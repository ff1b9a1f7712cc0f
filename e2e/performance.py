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

Times are the minimum over the steps after the first (the first holds vLLM's and the engine's warm-up): the least
disturbed measurement on a shared machine. Writes RUNS/performance.md and prints it.
"""

import json
import sys
from pathlib import Path

RUNS = ("abc", "grpo", "dualclip", "abc_legacy")
BASELINE = "grpo"
TIMINGS = {"actor update (s)": "timing_s/update_actor", "whole step (s)": "timing_s/step",
           "generation (s)": "timing_s/gen"}


def step_records(run_dir: Path) -> list[dict]:
    logs = sorted((run_dir / "train_logs").glob("*/*/*.jsonl"))
    return [json.loads(line)["data"] for log in logs for line in log.read_text().splitlines() if line.strip()]


def figures(root: Path) -> dict[str, dict[str, float]]:
    invocations = json.loads((root / "runs.json").read_text())
    table = {}
    for run in RUNS:
        if not (root / run).is_dir():
            continue
        later = step_records(root / run)[1:]
        if not later:
            sys.exit(f"performance: {root / run} has fewer than 2 logged steps; run e2e/run.py first")
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
