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
"""Reports: ``results.json`` (every sample's record, text-free), ``results.md`` (Table 2 layout, then intervals and
paired comparisons) and ``passk.png``."""

import io
import json
from pathlib import Path

from .metrics import k_grid
from .samples import write_atomic
from .uncertainty import STATISTICS

AVERAGE = "Average"


def write_figure(path: Path, fig) -> None:
    """Save a matplotlib figure as PNG atomically (see `write_atomic`): a plot is rewritten on every rerun, maybe by
    several processes sharing the output directory."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    write_atomic(path, buffer.getvalue())


def write_json(path: Path, results: dict) -> None:
    write_atomic(path, json.dumps(results, indent=1, ensure_ascii=False))


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _gain(new: float | None, base: float | None) -> str:
    # The paper's "Gain" is relative, (new - base) / base, not a difference in points.
    if new is None or base is None or base == 0:
        return "n/a"
    return f"{100.0 * (new - base) / base:+.1f}%"


def _table(results: dict, estimator: str) -> list[str]:
    k = results["protocol"]["k"]
    ks = k_grid(k)
    greedy = results["protocol"]["greedy"]
    labels = list(results["models"])
    rows_for = list(results["benchmarks"]) + ([AVERAGE] if len(results["benchmarks"]) > 1 else [])
    header = ["Benchmark", "Model", f"Avg@{k}", *[f"P@{j}" for j in ks]] + (["Greedy"] if greedy else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def values(metrics: dict) -> list[float | None]:
        scores = [metrics["avg@k"], *[metrics[estimator][j] for j in ks]]
        return scores + ([metrics["greedy_accuracy"]] if greedy else [])

    for bench in rows_for:
        for i, label in enumerate(labels):
            metrics = results["models"][label]["metrics"][bench]
            name = bench if i == 0 else ""
            lines.append("| " + " | ".join([name, label, *[_cell(v) for v in values(metrics)]]) + " |")
        if bench == AVERAGE and len(labels) > 1:
            base = values(results["models"][labels[0]]["metrics"][AVERAGE])
            for label in labels[1:]:
                new = values(results["models"][label]["metrics"][AVERAGE])
                cells = [_gain(n, b) for n, b in zip(new, base, strict=True)]
                lines.append("| " + " | ".join(["", f"Gain {label} vs {labels[0]}", *cells]) + " |")
    return lines


def _with_ci(value: float, interval: list[float]) -> str:
    return f"{value:.1f} [{interval[0]:.1f}, {interval[1]:.1f}]"


def _uncertainty(results: dict) -> list[str]:
    """One row per benchmark and model: each statistic with its interval; then the paired comparisons."""
    k, u = results["protocol"]["k"], results["uncertainty"]
    names = {"avg@k": f"Avg@{k}", "pass@k": f"Pass@{k}", "cons@k": f"cons@{k}"}
    benchmarks = list(results["benchmarks"]) + ([AVERAGE] if len(results["benchmarks"]) > 1 else [])
    level = f"{100 * u['level']:g}%"
    lines = [
        f"## How sure: {level} intervals",
        "",
        f"Percentile bootstrap over problems ({u['resamples']} replicates, seed {u['seed']}): each replicate redraws "
        f"the benchmark's problems with replacement, each with its {k} samples. Pass@{k}: one of the first {k} samples "
        f"is correct; cons@{k}: the most frequent answer among the {k} samples is correct.",
        "",
        "| Benchmark | Model | " + " | ".join(f"{names[s]} [{level} CI]" for s in STATISTICS) + " |",
        "|" + "---|" * (2 + len(STATISTICS)),
    ]
    point = {"avg@k": lambda m: m["avg@k"], "pass@k": lambda m: m["pass@k_first"][k], "cons@k": lambda m: m["cons@k"]}
    for bench in benchmarks:
        for i, (label, model) in enumerate(results["models"].items()):
            m = model["metrics"][bench]
            cells = [_with_ci(point[s](m), m["ci"][s]) for s in STATISTICS]
            lines.append("| " + " | ".join([bench if i == 0 else "", label, *cells]) + " |")
    if results["comparisons"]:
        lines += [
            "",
            f"## Paired differences (same problems, same replicates; {level} CI)",
            "",
            "| Benchmark | Difference | Metric | Value | CI | Verdict |",
            "|---|---|---|---|---|---|",
        ]
        for c in results["comparisons"]:
            lines.append(f"| {c['benchmark']} | {c['other']} - {c['base']} | {names[c['statistic']]} | "
                         f"{c['difference']:+.1f} | [{c['ci'][0]:+.1f}, {c['ci'][1]:+.1f}] | {c['verdict']} |")
    return lines


def write_markdown(path: Path, results: dict) -> None:
    p = results["protocol"]
    lines = [
        "# Evaluation results",
        "",
        f"{p['k']} samples per problem, temperature {p['temperature']}, top_p {p['top_p']}, top_k {p['top_k']}, "
        f"max_tokens {p['max_tokens']}, seed {p['seed']}, prompt format {p['prompt_format']}, "
        f"enable_thinking {p.get('enable_thinking', 'auto')}. Scores in %. "
        + ("Average = plain mean over the benchmarks; Gain = relative change vs the first model." if
           len(results["benchmarks"]) > 1 else ""),
        "",
        "## Pass@k as in the paper (first k samples)",
        "",
        *_table(results, "pass@k_first"),
        "",
        "## Pass@k, unbiased estimator (Chen et al. 2021: 1 - C(n-c,k)/C(n,k), n = k_max)",
        "",
        *_table(results, "pass@k_unbiased"),
        "",
        *_uncertainty(results),
        "",
    ]
    write_atomic(path, "\n".join(lines))


def write_plot(path: Path, results: dict) -> None:
    """Pass@k against k (log2 axis), one panel per benchmark (+ Average), one colour per model.

    Solid lines: unbiased estimator; dashed: the paper's first-k estimate.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed, and safe under a headless job scheduler
    import matplotlib.pyplot as plt

    panels = list(results["benchmarks"]) + ([AVERAGE] if len(results["benchmarks"]) > 1 else [])
    ks = k_grid(results["protocol"]["k"])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, bench in zip(axes[0], panels, strict=True):
        for i, (label, model) in enumerate(results["models"].items()):
            metrics = model["metrics"][bench]
            color = f"C{i % 10}"
            ax.plot(ks, [metrics["pass@k_unbiased"][j] for j in ks], "-o", color=color, ms=3, label=label)
            ax.plot(ks, [metrics["pass@k_first"][j] for j in ks], "--", color=color, lw=1, alpha=0.7)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(j) for j in ks])
        ax.set_title(bench)
        ax.set_xlabel("k")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("Pass@k (%)")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.suptitle("solid: unbiased estimator (Chen et al.), dashed: first k samples (the paper's)", fontsize=9)
    fig.tight_layout()
    write_figure(path, fig)
    plt.close(fig)
