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
"""The training-dynamics report's dynamics.md: per-run numbers with their definitions, and how the runs of a group
differ (seed t-intervals, or a step-paired block bootstrap for single runs)."""

import math
from pathlib import Path

import numpy as np

from abc_grpo_verl import report_stats
from abc_grpo_verl.report_model import (
    BAND_OUT,
    BAND_RETURN,
    ENTROPY,
    GRAD_NORM,
    LENGTH,
    LOGP_GAP,
    LR,
    OVERCORRECTION,
    PG_CLIPFRAC,
    PPO_KL,
    PPO_STYLE,
    QUADRANTS,
    REWARD,
    TRUNCATED,
    VALIDATION,
    VERL_LOG_PPL_GAP,
    VERL_PROBS_GAP,
    ZERO_STD,
    Run,
    band_note,
    diverged_at,
    fmt,
    name,
)
from abc_grpo_verl.report_stats import (
    clipped_shares,
    final_window,
    first_x,
    in_window,
    last_rollout,
    last_x,
    mean_ci,
    per_seed,
    run_rollout_sums,
    span,
)

# ----------------------------------------------------------------------------------------------------------------
# The summary: numbers with their definitions.


STATISTICS = {"first": "first step", "final": "final step", "rollout": "last rollout", "last": "last 10%",
              "mean": "mean over steps", "max": "max"}
# (statistic, key) rows of the per-run table; rows no run has are left out. Validation rows are added per metric.
ROWS = (
    *(("first", ENTROPY), ("final", ENTROPY), ("rollout", ENTROPY), ("last", ENTROPY), ("mean", ENTROPY)),
    *(("first", REWARD), ("last", REWARD), ("mean", REWARD)),
    *(("last", LENGTH), ("mean", LENGTH), ("last", TRUNCATED), ("mean", TRUNCATED)),
    *(("mean", key) for key in (*QUADRANTS, PPO_STYLE, OVERCORRECTION, PG_CLIPFRAC, PPO_KL, GRAD_NORM)),
    ("max", GRAD_NORM),
    *(("first", ZERO_STD), ("last", ZERO_STD), ("mean", ZERO_STD)),
    *((statistic, key) for key in (LOGP_GAP, VERL_PROBS_GAP, VERL_LOG_PPL_GAP) for statistic in ("last", "mean")),
    *(("first", LR), ("max", LR), ("final", LR)),
    *(("mean", key) for key in (*BAND_OUT, *BAND_RETURN)),
)
# What two runs are compared on: where training ended up (the last 10% of the steps both have), and how the
# clipping behaved (averaged over all the steps both have). Validation metrics join the first kind.
OUTCOMES = (ENTROPY, REWARD, LENGTH, TRUNCATED)
MECHANICS = (
    *QUADRANTS, PPO_STYLE, OVERCORRECTION, PPO_KL, GRAD_NORM, ZERO_STD, LOGP_GAP, VERL_PROBS_GAP, VERL_LOG_PPL_GAP,
    BAND_OUT[1], BAND_OUT[3], BAND_RETURN[1], BAND_RETURN[3]
)


def own_span(run: Run, key: str) -> tuple[float, float]:
    return first_x(run, key) - 1e-9, last_x(run, key)


def cell(run: Run, key: str, statistic: str) -> str:
    if not run.curves(key):
        return ""
    diverged = diverged_at(run, key)
    if diverged is not None and statistic in ("final", "rollout", "last"):
        return f"NaN from step {diverged:g}"  # never the last finite value as if it were where the run ended
    mean, half = mean_ci(list(per_seed(run, key, statistic, *own_span(run, key)).values()))
    return fmt(mean, key, half)


def quadrant_basis(run: Run) -> str:
    curves = [c for key in QUADRANTS for c in run.curves(key)]
    if not curves:
        return "not logged"
    if any(c.num is not None for c in curves):
        return "token counts (exact pooled shares)"
    return "logged shares (mean over micro-batches)"


def run_table(runs: list[Run]) -> list[str]:
    validation = sorted({key for run in runs for key in run.metric_keys() if key.startswith(VALIDATION)})
    rows = list(ROWS)
    at = next(i for i, row in enumerate(rows) if row[1] == LENGTH)
    rows[at:at] = [(statistic, key) for key in validation for statistic in ("first", "final", "max")]
    lines = ["| | " + " | ".join(run.label for run in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    lines += [
        f"| {name(key)}, {STATISTICS[statistic]} | " + " | ".join(cell(run, key, statistic) for run in runs) + " |"
        for statistic, key in rows
        if any(run.curves(key) for run in runs)
    ]
    shares = {run.label: clipped_shares(run) for run in runs}
    if any(shares.values()):
        for q in range(4):
            values = [
                mean_ci([s[q] for s in shares[run.label].values()]) if shares[run.label] else None for run in runs
            ]
            lines.append(
                f"| Q{q + 1} share of out-of-band tokens, pooled over the run | "
                + " | ".join(fmt(v[0], QUADRANTS[q], v[1]) if v else "" for v in values)
                + " |"
            )
    return lines


def entropy_ratios(a: Run, b: Run) -> str:
    if diverged := [f"{run.label}'s is NaN from step {step:g}" for run in (a, b)
                    if (step := diverged_at(run, ENTROPY)) is not None]:
        # the steps both have end where one run diverged: a ratio there would read as the end of training
        return f"- **Entropy ratio {a.label} / {b.label}**: none: {' and '.join(diverged)} (a diverged run)."
    start, end = span([a, b], ENTROPY)

    def ratio(statistic):
        mean_a = np.mean(list(per_seed(a, ENTROPY, statistic, start, end).values()))
        mean_b = np.mean(list(per_seed(b, ENTROPY, statistic, start, end).values()))
        return mean_a / mean_b

    points = max(int(in_window(c, *last_rollout(end)).sum()) for run in (a, b) for c in run.curves(ENTROPY))
    return (
        f"- **Entropy ratio {a.label} / {b.label}**: {ratio('final'):.2f}x at the last step both have "
        f"(step {end:g}), {ratio('last'):.2f}x over the last 10% of steps, {ratio('mean'):.2f}x averaged over all "
        f"steps (each a ratio of the two runs' seed means); {ratio('rollout'):.2f}x over the last rollout (the mean of "
        f"its {points} logged value{'s' * (points > 1)}, steadier than one optimizer step's)."
    )


def difference_row(a: Run, b: Run, key: str, statistic: str) -> str:
    """One table row: `key`'s "last" (10%) or "mean" (all steps) value in both runs, their difference, and whether
    it exceeds the seed-to-seed spread (paired seeds) or, for single runs, whether a step-paired block bootstrap's
    interval excludes 0. A run whose metric diverged (NaN to the end) gets no value and no verdict: the steps both
    runs have end where it diverged, and a comparison there would read as the end of training."""
    start, end = span([a, b], key)
    if any(diverged_at(run, key) is not None for run in (a, b)):
        cells = [f"NaN from step {step:g}" if (step := diverged_at(run, key)) is not None else "–" for run in (a, b)]
        return f"| {name(key)}, {STATISTICS[statistic]} | {cells[0]} | {cells[1]} | – | no verdict: a diverged run |"
    window = final_window(start, end) if statistic == "last" else (start, end)
    values_a, values_b = per_seed(a, key, statistic, start, end), per_seed(b, key, statistic, start, end)
    mean_a, mean_b = np.nanmean(list(values_a.values())), np.nanmean(list(values_b.values()))
    # seeds where both runs have a value in the window (a share of nothing, e.g. no token out of band, has none)
    paired = sorted(s for s in set(values_a) & set(values_b) if not math.isnan(values_a[s] - values_b[s]))
    if len(paired) >= 2:
        mean_a, mean_b = np.mean([values_a[s] for s in paired]), np.mean([values_b[s] for s in paired])
        deltas = np.array([values_a[s] - values_b[s] for s in paired])
        mean, half = mean_ci(deltas)
        higher = int((deltas > 0).sum())
        verdict = "**yes**" if abs(mean) > half else "no"
        judged = (
            f"{verdict}: 95% CI {fmt(mean - half, key)} .. {fmt(mean + half, key)}; higher in {higher} of "
            f"{len(paired)} seeds"
        )
    else:
        mean = mean_a - mean_b
        boot = report_stats.paired_block_bootstrap(run_rollout_sums(a, key, *window), run_rollout_sums(b, key, *window))
        if boot.steps < report_stats.MIN_STEPS:
            judged = "too few steps in the window to judge"
        elif not boot.judged:
            judged = (f"no verdict: {boot.steps} paired steps make fewer than {report_stats.MIN_BLOCKS} blocks of "
                      f"{boot.block}")
        else:
            judged = (f"{'**yes**' if boot.differs else 'no'}: 95% block-bootstrap CI {fmt(boot.low, key)} .. "
                      f"{fmt(boot.high, key)} ({boot.steps} paired steps, blocks of {boot.block})")
    steps = f"steps {math.ceil(window[0]):g}..{window[1]:g}"
    return f"| {name(key)}, {STATISTICS[statistic]} ({steps}) | {fmt(mean_a, key)} | {fmt(mean_b, key)} | " + (
        f"{fmt(mean, key)} | {judged} |"
    )


def comparison(a: Run, b: Run) -> list[str]:
    lines = [f"### {a.label} vs {b.label}", ""]
    if a.curves(ENTROPY) and b.curves(ENTROPY):
        lines += [entropy_ratios(a, b), ""]
    validation = sorted(key for key in a.metric_keys() | b.metric_keys() if key.startswith(VALIDATION))
    rows = [(key, "last") for key in (*OUTCOMES, *validation)] + [(key, "mean") for key in MECHANICS]
    lines += [
        f"| over the steps both runs have | {a.label} | {b.label} | difference | differs? |",
        "|---|---|---|---|---|",
        *(difference_row(a, b, key, statistic) for key, statistic in rows if a.curves(key) and b.curves(key)),
    ]
    return lines + [""]


DEFINITIONS = """\
## Definitions

- **Steps.** The x axis and every window are in rollout steps (verl's `global_steps`: one rollout batch and its
  updates). A Hugging Face/TRL log counts optimizer steps; its optimizer step k is placed at k / G, G the optimizer
  steps per rollout (read from the spacing of its reward logs: 4 in the authors' runs), and its per-rollout metrics
  (reward, lengths, tokens) at the rollout's step. **First step**: the first logged value. **Final step**: the value
  at the last step (with several seeds: their mean): for a TRL log one optimizer step's micro-batches. **Last
  rollout**: the mean over the last rollout's logged values (its G optimizer steps; verl: its one step).
  **Last 10%**: the mean over the steps in the last 10% of the run's step range.
  **Mean over steps**: the mean of every logged value, each step weighted equally. A comparison
  uses the step range both runs have.
- **Entropy**: mean per-token entropy (nats) of the policy's next-token distribution over response tokens. verl: of
  the rollout batch under the policy that sampled it, aggregated by `loss_agg_mode`; TRL: of each optimizer step's
  micro-batches; the demo: of the rollout batch over its full vocabulary.
- **Reward**: mean score of the rollout's responses (verl `critic/score/mean`, TRL `reward`). **Truncated**: share of
  responses that hit the length limit (verl `response_length/clip_ratio`, TRL `completions/clipped_ratio`).
- **Q1..Q4**: share of response tokens whose ratio r = π/π_old left the band, by quadrant: Q1 A>0 and r>1+ε1,
  Q2 A>0 and r<1−ε2, Q3 A<0 and r<1−ε4, Q4 A<0 and r>1+ε3 (verl `actor/abc_clipfrac_q1..q4`). ABC-GRPO zeroes the
  gradient of all four; PPO/GRPO clips Q1 and Q3 only. Per step, where the log has the raw counts
  (`actor/abc_clip_tokens_q*`, `actor/abc_valid_tokens`) a share is their ratio: the exact share of the step's
  tokens; otherwise the logged mean over micro-batches of each micro-batch's share. Over a window, counts are pooled
  (sum of the logged counts / sum of the logged valid tokens; verl logs each as a mean over the step's
  micro-batches, so a step weighs its tokens divided by its number of micro-batches: exact when that number is
  the same every step); logged shares are averaged. The authors' ABC logs give Q1 = `ppo_style` ×
  `ppo_style_pos_adv_pct`, Q3 = `ppo_style` × `ppo_style_neg_adv_pct`, Q2 = `overcorrection` ×
  `overcorrection_pos_adv_pct`, Q4 = `overcorrection` × `overcorrection_neg_adv_pct` (each a product of two means
  per step); their GRPO logs only TRL's `high_mean` (= Q1) and `low_mean` (= Q3). A verl log without the quadrant
  metrics (verl's own losses) has no split; with `--vanilla LABEL` (the run used verl's vanilla loss: GRPO, DAPO) its
  `pg_clipfrac` is read as its Q1+Q3 share, the tokens where vanilla's clipped term wins (a mean of per-micro-batch
  shares; other verl losses count other tokens). **Q1+Q3** is the authors'
  `ppo_style`, **Q2+Q4** their `overcorrection`: what ABC clips beyond PPO.
- **Share of out-of-band tokens**: a quadrant's part of all four, pooled over the run (sum over steps of the
  quadrant's counts, or without counts of its shares, over the same sum for all four). The paper's "Q4 = 41.4% of
  clipping events" (authors' 4B ABC-GRPO run) is the mean of per-step shares; pooled, as here, that run gives 41.5%.
- **pg_clipfrac**: each loss's own metric, which counts different things: ABC-GRPO every out-of-band token
  (Q1..Q4), verl's vanilla the tokens where its clipped term wins (Q1+Q3). Compare methods on Q1..Q4.
- **Time out of band, back in band** (the demo only): after every optimizer step the demo measures the ratio of every
  token of the rollout batch. *Time out of band* is the share of those token-steps outside the band, by quadrant.
  *Back in band after own update* is, of the tokens that were out of band when their own mini-batch's update came,
  the share inside the band right after it: the restoring force of that update (ABC-GRPO gives them no gradient).
- **Baselines' Q1..Q4**: a run trained with `loss_mode=abc_grpo_vanilla` (the recipes' GRPO and dual-clip
  baselines) trains with verl's vanilla loss unchanged and logs its quadrant counts against a reporting band, named
  in the runs table and the figure; its shares are the tokens an ABC-GRPO run with that band would have clipped.
- **Groups with no reward spread**: TRL's `frac_reward_zero_std`, the share of prompts whose responses all got the
  same reward (zero advantage, no gradient); verl logs no equivalent. **Log-prob gap**: TRL's mean
  |log p_vLLM − log p_trainer| per token (`sampling/sampling_logp_difference/mean`); verl's nearest metrics differ
  in definition and have their own rows: `training/rollout_probs_diff_mean` (|Δ prob| per token) and, with rollout
  correction, `rollout_corr/log_ppl_abs_diff` (|Δ log-perplexity| per sequence). **Learning rate**: TRL's
  `learning_rate`, verl's `actor/lr`.
- **NaN from step N**: the metric is NaN or infinite from step N to the end of the log (a diverged run); its
  final-step, last-rollout and last-10% cells say so instead of showing the last finite value, and its curve stops.
- **±**: the half-width of the 95% t-interval over seeds (runs with several seeds). **Differs?** With at least two
  seeds in common, per-seed differences of the window's values: yes when their 95% t-interval excludes 0.
  Otherwise (one run each): a step-paired moving-block bootstrap. The two runs' values are summed per rollout step
  and paired by step; 2,000 replicates each draw blocks of consecutive steps (circularly) and pool both runs over
  the same drawn steps; yes when the 2.5..97.5 percentile interval of the difference excludes 0. The block is the
  first lag at which the per-step differences' autocorrelation falls below 2/sqrt(n), at least n^(1/3): a shared
  trend makes blocks long and the interval wide. Under 10 paired steps, or under 3 blocks: no verdict, stated.
"""


def nonfinite_notes(runs: list[Run]) -> list[str]:
    notes = []
    for run in runs:
        for key, (diverged, count) in sorted(run.nonfinite.items()):
            if diverged is not None:
                notes.append(f"{run.label}: {name(key)} is NaN from step {diverged:g} (a diverged run?): its curve "
                             "stops there and its final-step, last-rollout and last-10% cells say so")
            else:
                notes.append(f"{run.label}: {name(key)} is NaN/inf at {count} step(s), left out of curves and means")
    return notes


def write_summary(path: Path, runs: list[Run], command: str, notes: list[str] = ()) -> None:
    lines = [
        "# Training dynamics",
        "",
        f"Made by `{command}`.",
        "",
        "## Runs",
        "",
        "| run | log | seeds | last step | quadrant shares from | Q1..Q4 band |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        keys = run.metric_keys()
        steps = max(c.x[-1] for key in keys for c in run.curves(key)) if keys else math.nan
        lines.append(f"| {run.label} | {run.source} | {len(run.seeds)} | {steps:g} | {quadrant_basis(run)} | "
                     f"{band_note(run)} |")
    if warned := [*notes, *nonfinite_notes(runs)]:
        lines += ["", "**Read with care:**", "", *(f"- {note}" for note in warned)]
    groups = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    lines += ["", "## Per run", "", "Each run over its own steps; ± is a 95% interval over seeds.", ""]
    for group, members in groups.items():
        lines += [f"### {group}", "", *run_table(members), ""]
    pairs = [(members[0], other) for members in groups.values() for other in members[1:]]
    if pairs:
        lines += ["## How the runs differ", "", "Within each group, its first run against each other one.", ""]
        for a, b in pairs:
            lines += comparison(a, b)
    path.write_text("\n".join(lines) + "\n\n" + DEFINITIONS)
