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
(none of the 128 answers right), and the mean ppo_kl over the updates of the first rollout step.

    python docs/study/collapse_table.py runs/study/collapse/metrics.jsonl

Prints a markdown table (docs/study.md quotes it). The report (`python -m abc_grpo_verl.report`) gives the
averages; this is the per-seed timing it does not.
"""

import json
import sys
from pathlib import Path


def main() -> None:
    records = [json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines()]
    runs = {}
    for record in records:
        runs.setdefault(record["method"], {}).setdefault(record["seed"], []).append(record)
    methods = list(runs)
    print("| seed | " + " | ".join(f"{m}: first step with reward 0 | {m}: ppo_kl, step 0" for m in methods) + " |")
    print("|---" * (1 + 2 * len(methods)) + "|")
    for seed in sorted(runs[methods[0]]):
        cells = []
        for method in methods:
            steps = sorted(runs[method][seed], key=lambda r: r["step"])
            first_zero = next((r["step"] for r in steps if r["reward"] == 0), None)
            cells += ["never" if first_zero is None else str(first_zero), f"{steps[0]['ppo_kl']:.2f}"]
        print(f"| {seed} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
