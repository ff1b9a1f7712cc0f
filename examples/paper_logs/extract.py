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
"""Write the packaged extract of the ABC-GRPO authors' training logs that `abc_grpo_verl.report --reference` reads.

    python examples/paper_logs/extract.py --logs ../shared/paper-logs \
        --output abc_grpo_verl/data/paper_logs.csv.gz

Input: the authors' four Hugging Face `trainer_state.json` files (gzip), one per run. Output: one gzip CSV with a
comment header (source, commit, license), the columns `run`, `step`, then only the log keys the report draws, under
the authors' own names; a cell is empty where that run did not log that key at that step. Values keep 6
significant digits (integers, such as the cumulative token count, exactly). tests/test_report.py checks the
packaged file against the raw logs.
"""

import argparse
import csv
import gzip
import io
import json
from pathlib import Path

SOURCE_REPO = "github.com/chi2liu/ABC-GRPO"
SOURCE_COMMIT = "c40bbafd9ef1a0983b562527f6e813ca13188f1f"
RUNS = ("Qwen3-1.7B-Base-grpo", "Qwen3-1.7B-Base-abc-grpo", "Qwen3-4B-Base-grpo", "Qwen3-4B-Base-abc-grpo")
# What the report draws, by the authors' names (the mapping onto verl's names is in abc_grpo_verl/report.py).
TRL_CLIP_KEYS = ("clip_ratio/high_mean", "clip_ratio/low_mean")
KEYS = (
    "entropy",
    "grad_norm",
    "reward",
    "completions/mean_length",
    "completions/clipped_ratio",
    "num_tokens",
    "learning_rate",
    # groups whose responses all got the same reward (no gradient), and the vLLM-vs-trainer log-prob gap
    "frac_reward_zero_std",
    "sampling/sampling_logp_difference/mean",
    # TRL's sign-conditional statistics: in the GRPO runs, Q1 and Q3
    "clip_ratio/high_mean",
    "clip_ratio/low_mean",
    # the ABC runs' quadrant statistics: Q1+Q3 and Q2+Q4, each split by the sign of the advantage
    "clip_ratio/ppo_style",
    "clip_ratio/ppo_style_pos_adv_pct",
    "clip_ratio/ppo_style_neg_adv_pct",
    "clip_ratio/overcorrection",
    "clip_ratio/overcorrection_pos_adv_pct",
    "clip_ratio/overcorrection_neg_adv_pct",
)
HEADER = f"""\
Compact extract of the ABC-GRPO authors' per-step training logs (Chi Liu and Xin Chen, "Adaptive-Boundary-Clipping
GRPO", arXiv 2601.03895), read by `python -m abc_grpo_verl.report --reference paper-1.7b|paper-4b`.
Source: {SOURCE_REPO}, commit {SOURCE_COMMIT} (2026-01-07), files experiments/<run>/trainer_state.json
(Hugging Face Trainer log_history). Licensed Apache-2.0 by that repository's LICENSE.
Made by examples/paper_logs/extract.py: only the keys the report draws, under the authors' names; values to 6
significant digits (integers exactly); an empty cell where the run did not log the key at that step. The ABC runs'
clip keys and TRL's high_mean/low_mean are mapped onto Q1..Q4 in abc_grpo_verl/report.py."""


def cell(value) -> str:
    if value is None:
        return ""
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.6g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=Path, required=True, help="folder with <run>.trainer_state.json.gz")
    parser.add_argument("--output", type=Path, required=True, help="the .csv.gz to write")
    args = parser.parse_args()

    text = io.StringIO()
    text.write("".join(f"# {line}\n" for line in HEADER.splitlines()))
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("run", "step", *KEYS))
    for run in RUNS:
        with gzip.open(args.logs / f"{run}.trainer_state.json.gz", "rt") as f:
            history = json.load(f)["log_history"]
        for entry in history:
            if not any(key in entry for key in KEYS):  # the last entry is the run's summary (train_loss, runtime)
                continue
            # the ABC runs log their own quadrant keys; there TRL's high/low means are not drawn
            abc_run = "clip_ratio/ppo_style" in entry
            values = (None if abc_run and key in TRL_CLIP_KEYS else entry.get(key) for key in KEYS)
            writer.writerow((run, entry["step"], *map(cell, values)))
    # mtime=0: the same logs give a byte-identical file
    with open(args.output, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(text.getvalue().encode())
    print(f"Wrote {args.output} ({args.output.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
