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
"""When did each run collapse? Per seed and method of a demo metrics.jsonl: the first step whose training reward is 0
(none of the 128 answers right), the mean reward over the last 10% of steps, and the mean ppo_kl over the updates of
the first rollout step.

    python docs/study/collapse_table.py runs/study/collapse/metrics.jsonl

Prints a markdown table (docs/study.md quotes it). The report (`python -m abc_grpo_verl.report`) gives the
averages over seeds; this is the per-seed timing it does not.
"""

import json
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    records = [json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines()]
    runs = {}
    for record in records:
        runs.setdefault(record["seed"], {}).setdefault(record["method"], []).append(record)
    print("| seed | method | first step with reward 0 | reward, last 10% of steps | ppo_kl, step 0 |")
    print("|---|---|---|---|---|")
    for seed, methods in sorted(runs.items()):
        for method, steps in methods.items():
            steps.sort(key=lambda r: r["step"])
            first_zero = next((r["step"] for r in steps if r["reward"] == 0), None)
            last = np.mean([r["reward"] for r in steps[-max(1, round(0.1 * len(steps))) :]])
            print(
                f"| {seed} | {method} | {'never' if first_zero is None else first_zero} | {last:.3f} | "
                f"{steps[0]['ppo_kl']:.2f} |"
            )


if __name__ == "__main__":
    main()
