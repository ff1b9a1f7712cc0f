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
"""Training-dynamics report: entropy, reward, length, clipping by quadrant over training, runs side by side.

    python -m abc_grpo_verl.report RUN [RUN ...] [--reference paper-1.7b|paper-4b] [--output-dir runs/report]

RUN is a training log, or a folder holding one, optionally labelled as LABEL=PATH. The format is detected from the
content:
  - verl's `file` logger (`trainer.logger` containing "file"): JSON lines {"step": N, "data": {metric: value}}. A
    folder with several (the recipes write one per launch, so a resumed run has several) is merged by step;
  - the CPU demo's metrics.jsonl (`python -m abc_grpo_verl.demo`): one run per method, its seeds as the spread;
  - a Hugging Face trainer_state.json (TRL; the ABC-GRPO authors' format), plain or gzip;
  - the evaluation's checkpoint sweep, sweep.jsonl (`python -m abc_grpo_verl.eval --run DIR`): one run per swept
    run, its Avg@k, Pass@k and cons@k per benchmark as validation curves over training steps.
`--reference` adds the authors' own GRPO and ABC-GRPO runs from the extract packaged in abc_grpo_verl/data/.

Writes dynamics.png (one panel per metric, runs overlaid) and dynamics.md (numbers with their definitions, and how
runs differ) to --output-dir. A sweep's confidence intervals and a single evaluation's paired differences are in the
eval's own sweep.md/results.md; here a sweep's scores sit beside the training logs. The demo draws its dynamics.png
with `plot_dynamics` from here.
"""

import argparse
import math
import shlex
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np

from abc_grpo_verl.report_checks import (
    SCALE_RATIO,
    LogError,
    make_output_dir,
    overlay_warnings,
    scale,
    spread_of_scales,
)
from abc_grpo_verl.report_model import (
    ENTROPY,
    OVERCORRECTION,
    PANELS,
    PPO_STYLE,
    QUADRANTS,
    REWARD,
    SHARES,
    SMOOTH,
    TITLE_WIDTH,
    VALIDATION,
    Curve,
    Run,
    band_lines,
    fmt,
    name,
    share_tick,
)
from abc_grpo_verl.report_readers import (
    REFERENCES,
    load_run_argument,
    read_as_vanilla,
    reference_runs,
)
from abc_grpo_verl.report_summary import write_summary

# ----------------------------------------------------------------------------------------------------------------
# The figure.


def smoothed(curve: Curve, window: float) -> np.ndarray:
    """Trailing mean over the points with x in (x_i - window, x_i]; pooled counts stay pooled. 0: unsmoothed."""
    if window <= 0:
        return curve.y
    left = np.searchsorted(curve.x, curve.x - window, side="right")
    right = np.arange(1, len(curve.x) + 1)

    def window_sums(values):
        totals = np.concatenate([[0.0], np.cumsum(np.nan_to_num(values))])
        return totals[right] - totals[left]

    if curve.num is not None:
        num, den = window_sums(curve.num), window_sums(curve.den)
    else:
        num, den = window_sums(curve.y), window_sums(~np.isnan(curve.y))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def token_axis(run: Run, x: np.ndarray) -> np.ndarray:
    """Cumulative training tokens (prompt + response) at rollout-step positions x, averaged over seeds."""
    if not run.tokens:
        raise LogError(
            f"{run.label} ({run.source}): --x tokens needs token counts, which this log lacks (verl logs "
            "perf/total_num_tokens, TRL num_tokens, the demo num_tokens)"
        )
    curves = list(run.tokens.values())
    steps, totals = curves[0].x, np.mean([c.y for c in curves], axis=0)
    return np.interp(x, np.concatenate([[steps[0] - 1], steps]), np.concatenate([[0.0], totals]))


def panels_for(runs: list[Run]) -> list[tuple[str, str]]:
    present = set().union(*(run.metric_keys() for run in runs))
    validation = sorted(key for key in present if key.startswith(VALIDATION))
    panels = [(key, title) for key, title in PANELS if key in present]
    at = sum(key in (ENTROPY, REWARD) for key, _ in panels)  # right after the entropy and reward panels
    return panels[:at] + [(key, f"validation: {key[len(VALIDATION) :]}") for key in validation] + panels[at:]


def plot_dynamics(
    path: Path,
    runs: list[Run],
    x_axis: str = "step",
    smooth: float = SMOOTH,
    title: str = "",
    only: tuple[str, ...] = (),
) -> list[str]:
    """One panel per metric that some run has (or, with `only`, per metric whose name starts with one of those), every
    run overlaid: its mean over seeds as the line and, with several seeds, their min..max as a band. Per-step metrics
    are smoothed; validation points are drawn as measured. A panel whose runs differ in scale by more than
    SCALE_RATIO is drawn on a symmetric log scale, so that every run stays visible; returns a note per such panel."""
    # Imported here: reading logs needs no matplotlib, and importing this module never switches a caller's backend.
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    panels = panels_for(runs)
    if missing := [prefix for prefix in only if not any(key.startswith(prefix) for key, _ in panels)]:
        raise LogError(
            f"--panels {','.join(missing)}: no such metric in these runs; they have {[k for k, _ in panels]}"
        )
    panels = [(key, panel_title) for key, panel_title in panels if not only or key.startswith(only)]
    if not panels:
        raise LogError(f"none of the runs ({', '.join(run.label for run in runs)}) has a metric the report draws")
    columns = 4
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.8 * columns, 3.4 * rows + 1.2), layout="constrained")
    axes = np.atleast_2d(axes)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    handles, notes = {}, []
    for ax, (key, panel_title) in zip(axes.flat, panels):  # noqa: B905 (axes may outnumber panels: spares are hidden)
        scales = {}
        for index, run in enumerate(runs):
            curves = run.curves(key)
            if not curves:
                continue
            if any(not np.array_equal(c.x, curves[0].x) for c in curves):
                raise LogError(f"{run.label}: its seeds logged {key} at different steps; plot them as separate runs")
            measured = key.startswith(VALIDATION)
            values = np.stack([c.y if measured else smoothed(c, smooth) for c in curves])
            x = curves[0].x if x_axis == "step" else token_axis(run, curves[0].x)
            style = {"color": colors[index % len(colors)], "linestyle": "--" if run.reference else "-"}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of a step no seed has: NaN is right
                (line,) = ax.plot(x, np.nanmean(values, axis=0), marker="o" if measured else None, ms=3, **style)
                scales[run.label] = scale(np.nanmean(values, axis=0))
                if len(curves) > 1:
                    ax.fill_between(x, np.nanmin(values, 0), np.nanmax(values, 0), color=style["color"], alpha=0.15)
            handles.setdefault(run.label, line)
        if spread_of_scales(list(scales.values())) > SCALE_RATIO:
            # symlog: linear within a tenth of the smallest run's scale (zeros and negative values stay drawable)
            ax.set_yscale("symlog", linthresh=min(v for v in scales.values() if v > 0) / 10)
            panel_title += f"\n[symlog y: scales differ {spread_of_scales(list(scales.values())):.0f}x]"
            listed = ", ".join(f"{label} ~{fmt(value, key)}" for label, value in scales.items() if value > 0)
            notes.append(f"panel '{name(key)}': the runs' scales differ by more than {SCALE_RATIO:g}x ({listed}); "
                         "drawn on a symmetric log scale so that each run stays visible")
        ax.set_title(panel_title, fontsize=10)
        if key in SHARES:  # symlog ticks span decades, which one fixed number of decimals would print alike
            symlog = ax.get_yscale() == "symlog"
            ax.yaxis.set_major_formatter(FuncFormatter(share_tick) if symlog else PercentFormatter(1.0))
        ax.set_xlabel("rollout step" if x_axis == "step" else "training tokens (prompt + response)")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    # Below the panels, not inside one: a legend inside would cover curves and bands.
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(len(handles), 3), fontsize=9)
    seeded = [run.label for run in runs if len(run.seeds) > 1]
    if seeded:
        spread = f"Line: mean over seeds; band: min..max over seeds ({', '.join(seeded)}). "
    else:
        spread = "One seed per run: no band. "
    smoothing = f"trailing mean over {smooth:g} rollout steps" if smooth > 0 else "unsmoothed"
    drawn = {key for key, _ in panels}
    quadrant_lines = band_lines(runs) if drawn & {*QUADRANTS, PPO_STYLE, OVERCORRECTION} else []
    heading = [title, f"{spread}Per-step metrics: {smoothing}; validation as measured.", *quadrant_lines]
    fig.suptitle("\n".join(line for part in heading for line in textwrap.wrap(part, TITLE_WIDTH)), fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return notes



# ----------------------------------------------------------------------------------------------------------------
# Entry point.


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m abc_grpo_verl.report",
        description=__doc__.split("\n\n")[0],
        epilog=(
            "examples:\n"
            "  python -m abc_grpo_verl.report runs/demo\n"
            "  python -m abc_grpo_verl.report checkpoints/abc_grpo_verl/qwen3_4b_base_dapo_math_abc "
            "--reference paper-4b\n"
            "  python -m abc_grpo_verl.report abc=runs/abc/log.jsonl grpo=runs/grpo/log.jsonl --x tokens"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="*", metavar="RUN", help="a log file, or a folder with one; LABEL=PATH names it")
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        choices=sorted(REFERENCES),
        help="overlay the ABC-GRPO authors' GRPO and ABC-GRPO runs for this model (repeatable)",
    )
    parser.add_argument(
        "--x",
        dest="x_axis",
        choices=("step", "tokens"),
        default="step",
        help="x axis: rollout steps, or cumulative training tokens [step]",
    )
    parser.add_argument(
        "--smooth",
        type=float,
        default=SMOOTH,
        help=f"trailing-mean window for per-step curves, in rollout steps; 0 = none [{SMOOTH:g}]",
    )
    parser.add_argument(
        "--panels",
        default="",
        help="draw only the metrics whose names start with one of these, comma-separated, e.g. "
        "actor/entropy,critic/score/mean,actor/abc_clipfrac_q [all the runs have]",
    )
    parser.add_argument(
        "--vanilla",
        action="append",
        default=[],
        metavar="LABEL",
        help="the run LABEL used verl's vanilla loss (GRPO, DAPO, PPO): read its pg_clipfrac as its Q1+Q3 share, "
        "to compare with an ABC run's (repeatable)",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("runs/report"), help="[runs/report]")
    args = parser.parse_args(argv)
    if not args.runs and not args.reference:
        parser.error("give at least one RUN or --reference")
    if not args.smooth >= 0:
        parser.error(f"--smooth must be >= 0 rollout steps (0 = unsmoothed), got {args.smooth}")
    try:
        runs = [run for argument in args.runs for run in load_run_argument(argument)]
        for run in runs:
            run.group = run.group or "your runs"  # runs given one by one are compared with each other
        runs += [run for name in dict.fromkeys(args.reference) for run in reference_runs(name)]
        labels = [run.label for run in runs]
        if duplicated := sorted({label for label in labels if labels.count(label) > 1}):
            raise LogError(f"several runs are labelled {duplicated}: name them with LABEL=PATH")
        read_as_vanilla(runs, args.vanilla)
        make_output_dir(args.output_dir)
        command = "python -m abc_grpo_verl.report " + shlex.join(sys.argv[1:] if argv is None else argv)
        warned = overlay_warnings(runs)
        for note in warned:
            print(f"warning: {note}", file=sys.stderr)
        try:  # the output folder itself was checked: an OSError here is a write that failed in it
            warned += plot_dynamics(
                args.output_dir / "dynamics.png",
                runs,
                args.x_axis,
                args.smooth,
                title=f"Training dynamics: {', '.join(labels)}",
                only=tuple(prefix for prefix in args.panels.split(",") if prefix),
            )
            write_summary(args.output_dir / "dynamics.md", runs, command, warned)
        except OSError as err:
            raise LogError(f"--output-dir {args.output_dir}: cannot write there ({err.strerror or err})") from err
    except LogError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Wrote {args.output_dir}/dynamics.png and dynamics.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
