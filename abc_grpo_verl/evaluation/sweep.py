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
"""Checkpoint sweeps (``--run DIR``): the ``global_step_N`` checkpoints of verl runs, scored against training step.

A run directory is verl's ``trainer.default_local_dir``: one ``global_step_N/`` per saved checkpoint, and
``latest_checkpointed_iteration.txt``, which verl rewrites once a save is complete. Checkpoints past the step it
names are still being written and are left for a later sweep. Outputs: ``sweep.jsonl`` (one line per run,
checkpoint and benchmark), ``sweep.md`` and ``sweep.png`` (Avg@k and Pass@k against step, one line per run, with
the confidence band), all rewritten from the samples on disk after every checkpoint, so a resumed sweep ends with
the files an uninterrupted one writes.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import LABEL, ModelError, ModelSpec, detect_model
from .report import write_figure
from .samples import write_atomic

STEP_DIR = re.compile(r"global_step_(\d+)")
TRACKER = "latest_checkpointed_iteration.txt"
# The statistics of the sweep's plot and table, as named in its JSON lines.
PLOTTED = ("avg@k", "pass@k")


@dataclass(frozen=True)
class Checkpoint:
    run: str
    step: int
    spec: ModelSpec


def parse_runs(values: list[str]) -> dict[str, Path]:
    """``[NAME=]DIR`` values -> {run name: directory}; the name defaults to the directory's name."""
    runs = {}
    for value in values:
        name, path = None, Path(value).expanduser()
        if "=" in value and not path.exists():
            name, raw = value.split("=", 1)
            path = Path(raw).expanduser()
            if not LABEL.fullmatch(name):
                raise ModelError(f"--run {value}: name {name!r} may only use letters, digits, '_', '-', '.'")
        if not path.is_dir():
            raise ModelError(f"--run {value}: no such directory (expected verl's trainer.default_local_dir, holding "
                             "global_step_N/ checkpoints)")
        name = name or re.sub(r"[^A-Za-z0-9_.-]", "_", path.resolve().name)
        if name in runs:
            raise ModelError(f"--run: several runs are named {name!r}; name them with NAME=DIR")
        runs[name] = path
    return runs


def find_checkpoints(name: str, run_dir: Path, every: int) -> list[Checkpoint]:
    """The checkpoints of one run to evaluate, in step order: every `every`-th one, and always the last."""
    steps = sorted((int(m[1]), p) for p in run_dir.iterdir() if p.is_dir() and (m := STEP_DIR.fullmatch(p.name)))
    if not steps:
        raise ModelError(f"--run {run_dir}: no global_step_N directories (verl saves them every "
                         "trainer.save_freq steps under trainer.default_local_dir)")
    tracker = run_dir / TRACKER
    if tracker.is_file():
        text = tracker.read_text().strip()
        if not text.isdigit():
            raise ModelError(f"--run {run_dir}: {tracker} should hold the last saved step, got {text[:40]!r}")
        complete = [(step, path) for step, path in steps if step <= int(text)]
        if len(complete) < len(steps):
            print(f"[eval] {name}: skipping {[s for s, _ in steps[len(complete):]]}, past the last complete save "
                  f"({TRACKER}: {text}); a later sweep picks them up")
        steps = complete
        if not steps:
            raise ModelError(f"--run {run_dir}: no checkpoint is complete yet ({TRACKER} says step {text})")
    chosen = steps[::every] + ([steps[-1]] if (len(steps) - 1) % every else [])
    checkpoints = []
    for step, path in chosen:
        kind, location = detect_model(str(path), flag="--run")
        label = f"{name}-global_step_{step}"
        checkpoints.append(Checkpoint(run=name, step=step, spec=ModelSpec(label, str(path), kind, location)))
    return checkpoints


def sweep_rows(checkpoint: Checkpoint, metrics: dict, intervals: dict, level: float) -> list[dict]:
    """The JSON lines of one checkpoint: one per benchmark (and the Average), scores in percent."""
    rows = []
    for benchmark, m in metrics.items():
        k = m["k"]
        rows.append({
            "run": checkpoint.run, "step": checkpoint.step, "label": checkpoint.spec.label,
            "checkpoint": checkpoint.spec.given, "benchmark": benchmark, "k": k, "n_problems": m["n_problems"],
            "avg@k": m["avg@k"], "pass@k": m["pass@k_first"][k], "cons@k": m["cons@k"],
            "ci_level": level, "ci": intervals[benchmark],
            "pass@k_first": m["pass@k_first"], "pass@k_unbiased": m["pass@k_unbiased"],
            "greedy_accuracy": m["greedy_accuracy"],
        })
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def write_markdown(path: Path, rows: list[dict], protocol: dict, uncertainty: dict) -> None:
    """One table per benchmark: run, step, Avg@k and Pass@k with their intervals, cons@k."""
    k = rows[0]["k"]
    lines = ["# Checkpoint sweep", "",
             f"{k} samples per problem, temperature {protocol['temperature']}, top_p {protocol['top_p']}, top_k "
             f"{protocol['top_k']}, max_tokens {protocol['max_tokens']}, seed {protocol['seed']}. Scores in %, "
             f"[{100 * uncertainty['level']:g}% CI: {uncertainty['method']}, {uncertainty['resamples']} replicates, "
             f"seed {uncertainty['seed']}]. Pass@{k}: one of the first {k} samples correct.", ""]
    for benchmark in dict.fromkeys(row["benchmark"] for row in rows):
        lines += [f"## {benchmark}", "", f"| Run | Step | Avg@{k} | Pass@{k} | cons@{k} |", "|---|---|---|---|---|"]
        for row in (r for r in rows if r["benchmark"] == benchmark):
            cells = [f"{row[s]:.1f} [{row['ci'][s][0]:.1f}, {row['ci'][s][1]:.1f}]" for s in PLOTTED]
            lines.append(f"| {row['run']} | {row['step']} | {' | '.join(cells)} | {row['cons@k']:.1f} |")
        lines.append("")
    write_atomic(path, "\n".join(lines))


def write_plot(path: Path, rows: list[dict]) -> None:
    """Avg@k (top) and Pass@k (bottom) against training step, one panel per benchmark, one line per run, with the
    confidence interval as a band: the layout of the paper's training-curve figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = rows[0]["k"]
    benchmarks = list(dict.fromkeys(row["benchmark"] for row in rows))
    runs = list(dict.fromkeys(row["run"] for row in rows))
    fig, axes = plt.subplots(len(PLOTTED), len(benchmarks), figsize=(4.2 * len(benchmarks), 3.2 * len(PLOTTED)),
                             squeeze=False, sharex="col")
    for col, benchmark in enumerate(benchmarks):
        for row_index, stat in enumerate(PLOTTED):
            ax = axes[row_index][col]
            for i, run in enumerate(runs):
                points = sorted((r["step"], r[stat], *r["ci"][stat]) for r in rows
                                if r["run"] == run and r["benchmark"] == benchmark)
                steps, values, low, high = zip(*points, strict=True)
                ax.plot(steps, values, "-o", color=f"C{i % 10}", ms=3, label=run)
                ax.fill_between(steps, low, high, color=f"C{i % 10}", alpha=0.15, lw=0)
            ax.grid(alpha=0.3)
            if row_index == 0:
                ax.set_title(benchmark)
            if row_index == len(PLOTTED) - 1:
                ax.set_xlabel("training step")
            if col == 0:
                ax.set_ylabel({"avg@k": f"Avg@{k}", "pass@k": f"Pass@{k}"}[stat] + " (%)")
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.suptitle(f"bands: {100 * rows[0]['ci_level']:g}% bootstrap CI over problems", fontsize=9)
    fig.tight_layout()
    write_figure(path, fig)
    plt.close(fig)
