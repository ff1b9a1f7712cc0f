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
import csv
import gzip
import io
import itertools
import json
import math
import shlex
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from abc_grpo_verl import report_stats
from abc_grpo_verl.report_checks import (
    SCALE_RATIO,
    LogError,
    Values,
    metric_value,
    overlay_warnings,
    scale,
    split_finite,
    spread_of_scales,
)

# ----------------------------------------------------------------------------------------------------------------
# What the report draws. Every log is mapped onto verl's metric names (the ones an ABC-GRPO run on verl logs).

ENTROPY = "actor/entropy"
REWARD = "critic/score/mean"
LENGTH = "response_length/mean"
TRUNCATED = "response_length/clip_ratio"  # share of responses that hit the length limit
QUADRANTS = tuple(f"actor/abc_clipfrac_q{q}" for q in range(1, 5))
# The split the authors log: Q1+Q3 (`ppo_style`, PPO clips these too) and Q2+Q4 (`overcorrection`, only ABC does).
PPO_STYLE = "Q1+Q3"
OVERCORRECTION = "Q2+Q4"
PG_CLIPFRAC = "actor/pg_clipfrac"
PPO_KL = "actor/ppo_kl"
GRAD_NORM = "actor/grad_norm"
VALIDATION = "val-core/"  # verl's prefix for the headline validation metrics; the demo's held-out pass@k joins them
# Raw token counts per quadrant and of valid tokens, each averaged over a step's micro-batches like the shares:
# their ratio is the step's exact token-pooled share, where the mean of per-micro-batch shares is only close to it.
CLIP_TOKENS = tuple(f"actor/abc_clip_tokens_q{q}" for q in range(1, 5))
VALID_TOKENS = "actor/abc_valid_tokens"
# The band eps1..eps4 each of our losses logs (abc_grpo_verl/config.py): the abc_grpo loss the band it trains with,
# a baseline trained with abc_grpo_vanilla (abc_grpo_verl/baseline.py) the reporting band its counts refer to.
LOSS_BAND = tuple(f"actor/abc_band_eps{q}" for q in range(1, 5))
REPORT_BAND = tuple(f"actor/abc_report_band_eps{q}" for q in range(1, 5))
PAPER_EPS = 0.2  # the authors' four widths, and the demo's
LR = "actor/lr"  # verl's; TRL's learning_rate maps onto it
# Groups whose responses all got the same reward: zero advantage, no gradient (TRL's name; verl logs no equivalent).
ZERO_STD = "frac_reward_zero_std"
# The sampler-vs-trainer gap, under each framework's own definition (they are not the same quantity, so each has its
# panel): TRL's mean |log p_vLLM - log p_trainer| per token; verl's mean |p_rollout - p_trainer| per token, and, with
# rollout correction on, its mean |log-perplexity difference| per sequence.
LOGP_GAP = "sampling/sampling_logp_difference/mean"
VERL_PROBS_GAP = "training/rollout_probs_diff_mean"
VERL_LOG_PPL_GAP = "rollout_corr/log_ppl_abs_diff"
# The demo's restoring-force measurements (abc_grpo_verl/demo.py, `band_*` in its metrics.jsonl).
BAND_OUT = tuple(f"band/out_q{q}" for q in range(1, 5))
BAND_RETURN = tuple(f"band/return_q{q}" for q in range(1, 5))

QUADRANT_TITLES = ("Q1: A>0, r>1+ε1", "Q2: A>0, r<1−ε2", "Q3: A<0, r<1−ε4", "Q4: A<0, r>1+ε3")
# (key, panel title); validation panels are added after the reward, one per metric found
PANELS = (
    (ENTROPY, "entropy (nats/token)"),
    (REWARD, "train reward (mean score)"),
    (LENGTH, "response length (tokens)"),
    (TRUNCATED, "truncated responses (share)"),
    *((key, f"{title} (share of tokens)") for key, title in zip(QUADRANTS, QUADRANT_TITLES, strict=True)),
    (PPO_STYLE, "Q1+Q3, the authors' ppo_style (share)"),
    (OVERCORRECTION, "Q2+Q4, the authors' overcorrection (share)"),
    (PG_CLIPFRAC, "pg_clipfrac, the loss's own (ABC: Q1..Q4; vanilla: Q1+Q3)"),
    (PPO_KL, "ppo_kl"),
    (GRAD_NORM, "grad norm"),
    (ZERO_STD, "groups with no reward spread (share; no gradient)"),
    (LOGP_GAP, "sampler vs trainer log-prob gap, mean abs per token (TRL)"),
    (VERL_PROBS_GAP, "rollout vs trainer prob gap, mean abs per token (verl)"),
    (VERL_LOG_PPL_GAP, "rollout vs trainer log-ppl gap, mean abs per sequence (verl)"),
    (LR, "learning rate"),
    *((BAND_OUT[q], f"time out of band, {QUADRANT_TITLES[q][:2]} (share of token-steps)") for q in (1, 3)),
    *((BAND_RETURN[q], f"back in band after own update, {QUADRANT_TITLES[q][:2]}") for q in (1, 3)),
)
SHARES = {TRUNCATED, *QUADRANTS, PPO_STYLE, OVERCORRECTION, PG_CLIPFRAC, ZERO_STD, *BAND_OUT, *BAND_RETURN}
SMOOTH = 5.0  # default trailing window, in rollout steps
FINAL_SHARE = 0.1  # "last 10%": the window of a run's final steps that its end-of-training numbers average over

EXPECTED = (
    'one of: verl\'s file-logger JSON lines ({"step": N, "data": {...}} per line), the demo\'s metrics.jsonl, '
    'the evaluation\'s sweep.jsonl, or a Hugging Face trainer_state.json (with "log_history"; plain or .gz)'
)


@dataclass
class Curve:
    """One metric of one seed over training.

    x is in rollout steps (verl's `global_steps`); a log with several optimizer steps per rollout (TRL) puts its
    optimizer step k at k / steps_per_generation. A share pooled from counts keeps its numerator and denominator
    per point (y = num / den), so that a window's share is sum(num) / sum(den).
    """

    x: np.ndarray
    y: np.ndarray
    num: np.ndarray | None = None
    den: np.ndarray | None = None


def curve_of(points: list[tuple[float, float]]) -> Curve:
    x, y = zip(*points, strict=True)
    return Curve(np.asarray(x, dtype=float), np.asarray(y, dtype=float))


def ratio_curve(points: list[tuple[float, float, float]]) -> Curve:
    """A share from (x, numerator, denominator) points; y is NaN where the denominator is 0."""
    x, num, den = (np.asarray(v, dtype=float) for v in zip(*points, strict=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return Curve(x, np.where(den > 0, num / den, np.nan), num, den)


def add_curves(a: Curve, b: Curve) -> Curve:
    """a + b on the same steps (pooled counts add up over the same denominator)."""
    if not np.array_equal(a.x, b.x):
        raise ValueError("curves to add must share their steps")
    if a.num is not None and b.num is not None:
        return Curve(a.x, a.y + b.y, a.num + b.num, a.den)
    return Curve(a.x, a.y + b.y)


def with_quadrant_sums(curves: dict[str, Curve]) -> dict[str, Curve]:
    for key, (first, second) in ((PPO_STYLE, (0, 2)), (OVERCORRECTION, (1, 3))):
        if QUADRANTS[first] in curves and QUADRANTS[second] in curves:
            curves[key] = add_curves(curves[QUADRANTS[first]], curves[QUADRANTS[second]])
    return curves


@dataclass
class Run:
    """One training run: its curves per seed, and its cumulative token count per seed (for a token x axis)."""

    label: str
    source: str  # the file and its format, as the summary states it
    group: str  # runs are compared within their group: the group's first run with each other one
    seeds: dict[int, dict[str, Curve]]
    tokens: dict[int, Curve] = field(default_factory=dict)
    reference: bool = False  # the authors' runs: drawn dashed
    band: tuple[float, ...] | None = None  # the band eps1..eps4 its quadrant metrics count against
    band_is_loss: bool = True  # the band its own loss clips at; False: a baseline's reporting band
    # metric -> (the step from which it stays NaN/inf, or None if it recovered; how many of its points were not)
    nonfinite: dict[str, tuple[float | None, int]] = field(default_factory=dict)

    def curves(self, key: str) -> list[Curve]:
        return [curves[key] for curves in self.seeds.values() if key in curves]

    def metric_keys(self) -> set[str]:
        return set().union(*(curves.keys() for curves in self.seeds.values()))


# ----------------------------------------------------------------------------------------------------------------
# Readers: one per format, each mapping the log's own names onto the ones above.


def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise LogError(f"{path}: cannot read it ({err}); expected {EXPECTED}") from err


def json_lines(path: Path, text: str) -> list[dict]:
    """The JSON objects of a JSON-lines file. A cut-off last line (a run still writing, or killed mid-write) is
    dropped with a warning; any other line that is not a JSON object is an error."""
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    records = []
    for index, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if index == len(lines) - 1 and index > 0:
                print(f"warning: {path} line {number}: incomplete last line ignored ({err.msg})", file=sys.stderr)
                break
            raise LogError(f"{path} line {number}: not JSON ({err.msg}); expected {EXPECTED}") from err
        if not isinstance(record, dict):
            raise LogError(f"{path} line {number}: a JSON {type(record).__name__}, not an object; expected {EXPECTED}")
        records.append(record)
    return records


# What the report reads of a verl log (every other key is only checked loosely: see report_checks.Values).
VERL_DIRECT = (ENTROPY, REWARD, LENGTH, TRUNCATED, PG_CLIPFRAC, PPO_KL, GRAD_NORM, LR, VERL_PROBS_GAP, VERL_LOG_PPL_GAP)
VERL_TOKENS = "perf/total_num_tokens"
VERL_USED = {*VERL_DIRECT, *QUADRANTS, *CLIP_TOKENS, VALID_TOKENS, *LOSS_BAND, *REPORT_BAND, VERL_TOKENS}


def verl_steps(path: Path, records: list[dict]) -> dict[int, dict[str, float]]:
    """step -> numeric metrics of a verl file-logger log (a step logged twice is merged, the later value wins)."""
    steps = {}
    values = Values(path, lambda key: key in VERL_USED or key.startswith(VALIDATION))
    for number, record in enumerate(records, start=1):
        if not (isinstance(record.get("step"), int) and isinstance(record.get("data"), dict)):
            raise LogError(
                f"{path} record {number}: keys {sorted(record)[:6]}; a verl file-logger line is "
                '{"step": <int>, "data": {<metric>: <value>}}'
            )
        steps.setdefault(record["step"], {}).update(values.of(f"step {record['step']}", record["data"]))
    values.warn()
    return steps


def finite_curve(found: list[tuple], key: str, nonfinite: dict, ratio: bool = False) -> Curve | None:
    """The curve of `found`'s finite points; NaN/inf points are left out and recorded in `nonfinite` (a diverged run
    is said to be one, never shown with its last finite value as final)."""
    finite, diverged, bad = split_finite(found)
    if bad:
        nonfinite[key] = (diverged, bad)
    if not finite:
        return None
    return ratio_curve(finite) if ratio else curve_of(finite)


def verl_run(steps: dict[int, dict[str, float]], label: str, source: str) -> Run:
    order = sorted(steps)

    def points(*keys):
        return [(s, *(steps[s][k] for k in keys)) for s in order if all(k in steps[s] for k in keys)]

    curves, nonfinite = {}, {}
    validation = sorted({key for s in order for key in steps[s] if key.startswith(VALIDATION)})
    for key in (*VERL_DIRECT, *validation):
        if (found := points(key)) and (curve := finite_curve(found, key, nonfinite)):
            curves[key] = curve
    for share_key, count_key in zip(QUADRANTS, CLIP_TOKENS, strict=True):
        shares, counted = points(share_key), points(count_key, VALID_TOKENS)
        # the exact token-pooled share where every logged step has the counts, else the mean of shares verl logs
        if counted and len(counted) >= len(shares):
            curve = finite_curve(counted, share_key, nonfinite, ratio=True)
        else:
            curve = finite_curve(shares, share_key, nonfinite) if shares else None
        if curve:
            curves[share_key] = curve
    run = Run(label, source, group="", seeds={0: with_quadrant_sums(curves)}, nonfinite=nonfinite)
    if bands := points(*LOSS_BAND):
        run.band = bands[-1][1:]
    elif bands := points(*REPORT_BAND):
        run.band, run.band_is_loss = bands[-1][1:], False
    if tokens := [p for p in points(VERL_TOKENS) if math.isfinite(p[1])]:
        run.tokens[0] = Curve(np.array([s for s, _ in tokens], float), np.cumsum([t for _, t in tokens]))
    return run


def require_metrics(run: Run, path: Path, records: list[dict]) -> Run:
    """A verl log with no metric the report draws is an error saying what its records hold instead."""
    if run.metric_keys():
        return run
    values = [value for record in records for value in record.get("data", {}).values()]
    if not values:
        held = "every record's data is empty"
    elif all(value is None or isinstance(value, bool) for value in values):
        kinds = sorted({"nulls" if value is None else "booleans" for value in values})
        held = f"its values are only JSON {' and '.join(kinds)}"
    elif run.nonfinite:
        held = f"its values of {sorted(run.nonfinite)[:5]} are all NaN or infinite"
    else:
        keys = sorted({key for record in records for key in record.get("data", {})})
        held = f"it holds {keys[:5]}{' ...' if len(keys) > 5 else ''}"
    raise LogError(f"{path}: no metric the report draws in its {len(records)} record{'s' * (len(records) != 1)} "
                   f"({held}); expected verl metrics such as {ENTROPY}, {REWARD} as JSON numbers")


def read_as_vanilla(runs: list[Run], labels: list[str]) -> None:
    """``--vanilla LABEL``: the run's loss is verl's vanilla (GRPO, DAPO, PPO), whose pg_clipfrac counts the tokens
    where its clipped term wins: A>0 with r>1+eps_high (Q1) and A<0 with r<1-eps_low (Q3). So its pg_clipfrac is its
    Q1+Q3 share (a mean of per-micro-batch shares), compared with an ABC run's. verl's other losses count other
    tokens (cispo both sides whatever A, geo_mean A>0 only, sapo none), and its logs do not say which loss ran: hence
    a flag."""
    by_label = {run.label: run for run in runs}
    for label in labels:
        if label not in by_label:
            raise LogError(f"--vanilla {label}: no run has that label; the runs are {sorted(by_label)}")
        run = by_label[label]
        if not run.curves(PG_CLIPFRAC) or any(run.curves(key) for key in QUADRANTS):
            has = "the quadrant metrics" if run.curves(PG_CLIPFRAC) else "no pg_clipfrac"
            raise LogError(f"--vanilla {label}: its log has {has}; --vanilla is for a verl log of verl's vanilla loss "
                           "(pg_clipfrac, no actor/abc_clipfrac_q*)")
        for curves in run.seeds.values():
            if PG_CLIPFRAC in curves:
                curves[PPO_STYLE] = curves[PG_CLIPFRAC]
        run.source += "; Q1+Q3 = its pg_clipfrac (--vanilla)"


def merged_verl_steps(paths: list[Path]) -> dict[int, dict[str, float]]:
    """One run from several logs of it (one per launch): each log counts up to the step where the next begins."""
    segments = sorted((min(steps), path, steps) for path in paths if (steps := verl_steps(path, load_lines(path))))
    if not segments:
        raise LogError(f"{', '.join(map(str, paths))}: no records in these verl logs")
    for (first, path, _), (next_first, next_path, _) in itertools.pairwise(segments):
        if first == next_first:
            raise LogError(f"{path} and {next_path} both start at step {first}: pass the one you mean as a file")
    merged = {}
    for index, (_, _, steps) in enumerate(segments):
        end = segments[index + 1][0] if index + 1 < len(segments) else math.inf
        merged |= {step: metrics for step, metrics in steps.items() if step < end}
    return merged


def load_lines(path: Path) -> list[dict]:
    return json_lines(path, read_text(path))


# The demo's metrics.jsonl keys that map one to one.
DEMO_KEYS = {
    "entropy": ENTROPY,
    "reward": REWARD,
    "response_length": LENGTH,
    "truncated": TRUNCATED,
    "pg_clipfrac": PG_CLIPFRAC,
    "ppo_kl": PPO_KL,
    "grad_norm": GRAD_NORM,
    **{f"quadrant_q{q}": QUADRANTS[q - 1] for q in range(1, 5)},
}
DEMO_RECORD = ("method", "seed", "step")


def demo_uses(key: str) -> bool:
    return key in DEMO_KEYS or key == "num_tokens" or key.startswith(("pass@", "band_"))


def merged_nonfinite(per_seed_nonfinite: list[dict]) -> dict[str, tuple[float | None, int]]:
    """A run's non-finite record from its seeds': diverged from the earliest step any seed stays NaN from."""
    merged = {}
    for nonfinite in per_seed_nonfinite:
        for key, (diverged, count) in nonfinite.items():
            earlier, total = merged.get(key, (None, 0))
            steps = [step for step in (earlier, diverged) if step is not None]
            merged[key] = (min(steps) if steps else None, total + count)
    return merged


def demo_runs(path: Path, records: list[dict], label: str, method_labels: dict[str, str] | None = None) -> list[Run]:
    """One run per method of a demo metrics.jsonl, each with every seed of the file, labelled "LABEL: method" (or
    by `method_labels`)."""
    by_run = {}
    for number, record in enumerate(records, start=1):
        if not all(key in record for key in DEMO_RECORD):
            raise LogError(f"{path} record {number}: lacks {[k for k in DEMO_RECORD if k not in record]}; {EXPECTED}")
        by_run.setdefault(record["method"], {}).setdefault(record["seed"], []).append(record)
    values = Values(path, demo_uses)
    runs = []
    for method, per_seed in by_run.items():
        seeds, tokens, nonfinite = {}, {}, []
        for seed, seed_records in per_seed.items():
            seed_records.sort(key=lambda r: r["step"])
            rows = [(r["step"], values.of(f"step {r['step']}", r, skip=DEMO_RECORD)) for r in seed_records]

            def points(*keys, rows=rows):
                return [(step, *(v[k] for k in keys)) for step, v in rows if all(k in v for k in keys)]

            curves, seed_nonfinite = {}, {}

            def add(key, found, ratio=False, curves=curves, seed_nonfinite=seed_nonfinite):
                if found and (curve := finite_curve(found, key, seed_nonfinite, ratio)):
                    curves[key] = curve

            for theirs, ours in DEMO_KEYS.items():
                add(ours, points(theirs))
            for key in sorted({k for _, v in rows for k in v if k.startswith("pass@")}):
                add(f"{VALIDATION}held-out/{key}", points(key))
            for q in range(1, 5):
                add(BAND_OUT[q - 1], points(f"band_out_q{q}", "band_token_steps"), ratio=True)
                add(BAND_RETURN[q - 1], points(f"band_back_q{q}", f"band_seen_out_q{q}"), ratio=True)
            seeds[seed] = with_quadrant_sums(curves)
            nonfinite.append(seed_nonfinite)
            if found := [p for p in points("num_tokens") if math.isfinite(p[1])]:
                tokens[seed] = Curve(np.array([s for s, _ in found], float), np.cumsum([t for _, t in found]))
        name = method_labels[method] if method_labels else f"{label}: {method}"
        runs.append(Run(name, f"{path} (demo metrics.jsonl)", label, seeds, tokens, band=(PAPER_EPS,) * 4,
                        nonfinite=merged_nonfinite(nonfinite)))
    values.warn()
    return runs


# A line of the evaluation's sweep.jsonl (abc_grpo_verl/evaluation/sweep.py): one run, checkpoint and benchmark.
SWEEP_RECORD = ("run", "step", "benchmark", "k", "avg@k", "pass@k", "cons@k")
SWEEP_SCORES = ("avg@k", "pass@k", "cons@k")


def sweep_runs(path: Path, records: list[dict], label: str) -> list[Run]:
    """One run per swept run of a sweep.jsonl, labelled "LABEL: run", its scores (in %, as the sweep writes them) as
    validation curves `val-core/<benchmark>/avg@<k> (%)` etc. over the checkpoints' training steps."""
    by_run = {}
    for number, record in enumerate(records, start=1):
        if missing := [key for key in SWEEP_RECORD if key not in record]:
            raise LogError(f"{path} record {number}: lacks {missing}; {EXPECTED}")
        scores = [metric_value(path, f"record {number}", key, record[key]) for key in SWEEP_SCORES]
        if not isinstance(record["step"], int) or isinstance(record["step"], bool) or None in scores:
            raise LogError(f"{path} record {number}: step must be an integer and {list(SWEEP_SCORES)} numbers, got "
                           f"{[record[key] for key in ('step', *SWEEP_SCORES)]}")
        by_run.setdefault(str(record["run"]), []).append({**record, **dict(zip(SWEEP_SCORES, scores, strict=True))})
    runs = []
    for run_name, rows in by_run.items():
        points = {}
        for row in sorted(rows, key=lambda r: r["step"]):
            for score in SWEEP_SCORES:
                key = f"{VALIDATION}{row['benchmark']}/{score.replace('@k', '@' + str(row['k']))} (%)"
                points.setdefault(key, []).append((row["step"], row[score]))
        curves, nonfinite = {}, {}
        for key, found in points.items():
            if len({step for step, _ in found}) < len(found):
                raise LogError(f"{path}: run {run_name!r} has several {key} values at one step; a sweep.jsonl holds "
                               "one line per run, checkpoint and benchmark")
            if curve := finite_curve(found, key, nonfinite):
                curves[key] = curve
        runs.append(Run(f"{label}: {run_name}", f"{path} (evaluation sweep.jsonl)", label, {0: curves},
                        nonfinite=nonfinite))
    return runs


# TRL's names -> ours. Per optimizer step: entropy, grad norm, clip statistics. Per rollout (logged on the first
# optimizer step of each generation): reward, completion lengths, the cumulative token count.
TRL_PER_UPDATE = {"entropy": ENTROPY, "grad_norm": GRAD_NORM, "learning_rate": LR}
TRL_PER_ROLLOUT = {"reward": REWARD, "completions/mean_length": LENGTH, "completions/clipped_ratio": TRUNCATED,
                   ZERO_STD: ZERO_STD, LOGP_GAP: LOGP_GAP}
# The ABC runs' clip statistics (see ../shared/paper-logs/README.md): ppo_style = (Q1+Q3) share of tokens, split by
# the sign of A into Q1 (pos) and Q3 (neg); overcorrection = (Q2+Q4), split into Q2 (pos) and Q4 (neg).
TRL_ABC_QUADRANTS = (
    ("clip_ratio/ppo_style", "clip_ratio/ppo_style_pos_adv_pct"),
    ("clip_ratio/overcorrection", "clip_ratio/overcorrection_pos_adv_pct"),
    ("clip_ratio/ppo_style", "clip_ratio/ppo_style_neg_adv_pct"),
    ("clip_ratio/overcorrection", "clip_ratio/overcorrection_neg_adv_pct"),
)
# Plain TRL (the GRPO runs): high_mean counts A>0 and r>1+eps (Q1), low_mean A<0 and r<1-eps (Q3).
TRL_PLAIN_QUADRANTS = {0: "clip_ratio/high_mean", 2: "clip_ratio/low_mean"}


TRL_TOKENS = "num_tokens"  # cumulative
TRL_USED = {*TRL_PER_UPDATE, *TRL_PER_ROLLOUT, *(key for pair in TRL_ABC_QUADRANTS for key in pair),
            *TRL_PLAIN_QUADRANTS.values(), TRL_TOKENS}


def trainer_state_run(history: list[dict], label: str, source: str, path: Path | str | None = None) -> Run:
    """The run of a TRL log_history; `path` (the file, else `source`) is what its errors name."""
    values = Values(path or source, TRL_USED.__contains__)
    entries = [(e["step"], values.of(f"step {e['step']}", e, skip=("step",)))
               for e in history if isinstance(e, dict) and isinstance(e.get("step"), int)]
    values.warn()
    rollout_steps = [step for step, v in entries if "reward" in v]
    # TRL logs a rollout's statistics once per generation: their spacing is the optimizer steps per rollout
    per_rollout = int(np.median(np.diff(rollout_steps))) if len(rollout_steps) > 1 else 1

    def points(key, rollout=False):
        return [(math.ceil(step / per_rollout) if rollout else step / per_rollout, v[key])
                for step, v in entries if key in v]

    curves, nonfinite = {}, {}
    for mapping, rollout in ((TRL_PER_UPDATE, False), (TRL_PER_ROLLOUT, True)):
        for theirs, ours in mapping.items():
            if (found := points(theirs, rollout)) and (curve := finite_curve(found, ours, nonfinite)):
                curves[ours] = curve
    abc = [(step, v) for step, v in entries if all(key in v for pair in TRL_ABC_QUADRANTS for key in pair)]
    for q in range(4):
        if abc:
            total, part = TRL_ABC_QUADRANTS[q]
            found = [(step / per_rollout, v[total] * v[part]) for step, v in abc]
        else:
            found = points(TRL_PLAIN_QUADRANTS[q]) if q in TRL_PLAIN_QUADRANTS else []
        if found and (curve := finite_curve(found, QUADRANTS[q], nonfinite)):
            curves[QUADRANTS[q]] = curve
    run = Run(label, source, group="", seeds={0: with_quadrant_sums(curves)}, nonfinite=nonfinite)
    if found := [p for p in points(TRL_TOKENS, rollout=True) if math.isfinite(p[1])]:
        run.tokens[0] = curve_of(found)
    return run


def load_file(path: Path, label: str) -> list[Run]:
    """The run(s) in one log file, its format detected from the content."""
    text = read_text(path)
    if not text.strip():
        raise LogError(f"{path}: empty; expected {EXPECTED}")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and "log_history" in whole:
        if not isinstance(whole["log_history"], list):
            raise LogError(f"{path}: log_history is a {type(whole['log_history']).__name__}, expected a list")
        run = trainer_state_run(whole["log_history"], label, f"{path} (Hugging Face trainer_state.json)", path)
        if not run.seeds[0]:
            raise LogError(f"{path}: log_history has none of {sorted(TRL_PER_UPDATE)}; {EXPECTED}")
        return [run]
    records = json_lines(path, text)
    first = records[0]
    if "data" in first and "step" in first:
        run = verl_run(verl_steps(path, records), label, f"{path} (verl file logger)")
        return [require_metrics(run, path, records)]
    if all(key in first for key in SWEEP_RECORD):
        return sweep_runs(path, records, label)
    if all(key in first for key in DEMO_RECORD):
        return demo_runs(path, records, label)
    raise LogError(f"{path} line 1: keys {sorted(first)[:8]}, a format the report does not know; expected {EXPECTED}")


def is_verl_log(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            first = json.loads(f.readline())
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and "data" in first and "step" in first


def default_label(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json", ".trainer_state"):
        name = name.removesuffix(suffix)
    return path.resolve().parent.name if name in ("trainer_state", "metrics") else name


def load_run_argument(argument: str) -> list[Run]:
    """`PATH` or `LABEL=PATH`: a log file, or a folder holding the logs of one run: verl file-logger logs anywhere
    below it (the recipes write one per launch under OUTPUT_DIR/train_logs/), or a demo metrics.jsonl, an evaluation
    sweep.jsonl or a trainer_state.json in it."""
    label, _, rest = argument.partition("=")
    path, label = (Path(rest), label) if rest and not Path(argument).exists() else (Path(argument), None)
    if not path.exists():
        raise LogError(f"{path}: no such file or folder")
    if path.is_file():
        return load_file(path, label or default_label(path))
    label = label or path.resolve().name
    try:
        verl_logs = sorted(p for p in path.rglob("*.jsonl") if is_verl_log(p))
    except OSError as err:  # a folder below it that cannot be listed
        raise LogError(f"{path}: cannot read this folder ({err})") from err
    others = [p for p in (path / "metrics.jsonl", path / "sweep.jsonl", path / "trainer_state.json")
              if p.is_file() and p not in verl_logs]
    if not (verl_logs or others):  # a Hugging Face output folder keeps trainer_state.json in its checkpoints
        checkpoints = {
            int(p.parent.name[len("checkpoint-") :]): p
            for p in path.glob("checkpoint-*/trainer_state.json")
            if p.parent.name[len("checkpoint-") :].isdigit()
        }
        others = [checkpoints[max(checkpoints)]] if checkpoints else []
    if verl_logs and others or len(others) > 1:
        raise LogError(f"{path}: holds logs of several formats ({[p.name for p in verl_logs + others]}): pass one file")
    if others:
        return load_file(others[0], label)
    if not verl_logs:
        raise LogError(f"{path}: no training log in this folder; expected {EXPECTED}")
    source = f"{path} ({len(verl_logs)} verl file-logger log{'s' * (len(verl_logs) > 1)})"
    run = verl_run(merged_verl_steps(verl_logs), label, source)
    return [require_metrics(run, path, [record for log in verl_logs for record in load_lines(log)])]


# The authors' four runs, from the packaged extract (examples/paper_logs/extract.py made it; its header has the
# source and license). ABC-GRPO first: a group's first run is the one compared with the others.
REFERENCES = {
    "paper-1.7b": ("Qwen3-1.7B-Base-abc-grpo", "Qwen3-1.7B-Base-grpo"),
    "paper-4b": ("Qwen3-4B-Base-abc-grpo", "Qwen3-4B-Base-grpo"),
}
EXTRACT = "paper_logs.csv.gz"


def reference_runs(name: str) -> list[Run]:
    text = gzip.decompress(resources.files("abc_grpo_verl.data").joinpath(EXTRACT).read_bytes()).decode()
    rows = csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#"))
    histories = {}
    for row in rows:
        entry = {key: float(value) for key, value in row.items() if key not in ("run", "step") and value != ""}
        histories.setdefault(row["run"], []).append({"step": int(row["step"]), **entry})
    runs = []
    for run_name in REFERENCES[name]:
        size = run_name.split("-")[1]
        method = "ABC-GRPO" if run_name.endswith("abc-grpo") else "GRPO"
        run = trainer_state_run(histories[run_name], f"paper {size} {method}", f"the authors' log of {run_name}")
        run.group, run.reference = name, True
        if method == "ABC-GRPO":
            run.band = (PAPER_EPS,) * 4
        runs.append(run)
    return runs


# ----------------------------------------------------------------------------------------------------------------
# Statistics.


def t_quantile(p: float, df: int) -> float:
    """The p-quantile (p > 0.5) of Student's t with `df` degrees of freedom.

    With T = sqrt(df) tan(theta), theta has density proportional to cos(theta)^(df - 1) on [0, pi/2) for |T|, so
    one smooth integral on a bounded interval gives the quantile (to ~1e-6, no scipy needed).
    """
    theta = np.linspace(0.0, np.pi / 2, 200_001)
    density = np.cos(theta) ** (df - 1)
    cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2)])
    return math.sqrt(df) * math.tan(np.interp(2 * p - 1, cdf / cdf[-1], theta))


def mean_ci(values) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (NaN for a single value)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), math.nan
    return float(values.mean()), t_quantile(0.975, len(values) - 1) * float(values.std(ddof=1)) / math.sqrt(len(values))


def in_window(curve: Curve, start: float, end: float) -> np.ndarray:
    return (curve.x > start) & (curve.x <= end)


def window_value(curve: Curve, start: float, end: float) -> float:
    """The metric over the points with start < x <= end: pooled sum(num) / sum(den) where counts exist, else the
    mean of the logged values."""
    mask = in_window(curve, start, end)
    if curve.num is not None:
        den = curve.den[mask].sum()
        return float(curve.num[mask].sum() / den) if den > 0 else math.nan
    values = curve.y[mask]
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else math.nan


def final_value(curve: Curve, end: float) -> float:
    mask = (curve.x <= end) & ~np.isnan(curve.y)
    return float(curve.y[mask][-1]) if mask.any() else math.nan


def last_x(run: Run, key: str) -> float:
    return min(curve.x[-1] for curve in run.curves(key))


def first_x(run: Run, key: str) -> float:
    return max(curve.x[0] for curve in run.curves(key))


def span(runs: list[Run], key: str) -> tuple[float, float]:
    """The steps every run has (start, end]; the start is just below the first point, so it is included."""
    return max(first_x(r, key) for r in runs) - 1e-9, min(last_x(r, key) for r in runs)


def final_window(start: float, end: float) -> tuple[float, float]:
    return end - FINAL_SHARE * (end - start), end


def last_rollout(end: float) -> tuple[float, float]:
    """The last rollout up to `end`: its optimizer steps sit in (ceil(end) - 1, ceil(end)] (TRL logs step k at
    k / G)."""
    return math.ceil(end - 1e-9) - 1, end


def per_seed(run: Run, key: str, statistic: str, start: float, end: float) -> dict[int, float]:
    """One number per seed: "first", "final" (the value at the last step <= end), "rollout" (the mean over the last
    rollout <= end), "last" (the last 10% of the span), "mean" (the whole span), "max"."""
    values = {}
    for seed, curves in run.seeds.items():
        if key not in curves:
            continue
        curve = curves[key]
        if statistic == "first":
            values[seed] = float(curve.y[in_window(curve, start, end)][0])
        elif statistic == "final":
            values[seed] = final_value(curve, end)
        elif statistic == "rollout":
            values[seed] = window_value(curve, *last_rollout(end))
        elif statistic == "last":
            values[seed] = window_value(curve, *final_window(start, end))
        elif statistic == "mean":
            values[seed] = window_value(curve, start, end)
        elif statistic == "max":
            values[seed] = float(np.nanmax(curve.y[in_window(curve, start, end)]))
    return values


def clipped_shares(run: Run) -> dict[int, np.ndarray]:
    """Per seed: each quadrant's share of all out-of-band tokens over the run, pooled: sum over steps of the
    quadrant's count (or, without counts, its share of tokens) / the same sum over the four quadrants."""
    shares = {}
    for seed, curves in run.seeds.items():
        if all(key in curves for key in QUADRANTS):
            totals = np.array(
                [np.nansum(curves[k].num if curves[k].num is not None else curves[k].y) for k in QUADRANTS]
            )
            if totals.sum() > 0:
                shares[seed] = totals / totals.sum()
    return shares


def rollout_sums(run: Run, key: str, start: float, end: float) -> dict[int, tuple[float, float]]:
    """Per rollout step in (start, end], over its seeds: (sum of counts, sum of valid tokens) for pooled shares, else
    (sum of values, number of values), so that each side of a bootstrap replicate is what `window_value` computes."""
    curves = run.curves(key)
    nums = [c.num if c.num is not None else c.y for c in curves]
    dens = [c.den if c.den is not None else np.where(np.isnan(c.y), 0.0, 1.0) for c in curves]
    return report_stats.rollout_sums([c.x for c in curves], nums, dens, start, end)


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


TITLE_WIDTH = 180  # characters per line of the figure's heading: what its 19-inch width holds at 10 pt


def band_lines(runs: list[Run]) -> list[str]:
    """The figure's band statement: one line per distinct band, naming the runs that share it."""
    by_note = {}
    for run in runs:
        by_note.setdefault(band_note(run), []).append(run.label)
    return [f"Q1..Q4 band of {', '.join(labels)}: {note}" for note, labels in by_note.items()]


def share_tick(value: float, _position=None) -> str:
    """A share's tick label in %, with as many digits as its own magnitude needs (0.001%, 0.01%, 1%)."""
    return f"{100 * value:.3g}%"


def band_note(run: Run) -> str:
    """Which band a run's Q1..Q4 shares refer to, as the figure and the summary state it."""
    has = [key for key in QUADRANTS if run.curves(key)]
    if len(has) == 4 and run.band is not None:
        widths = f"ε1..ε4 = {', '.join(f'{eps:g}' for eps in run.band)}"
        if not run.band_is_loss:
            return f"{widths} (reporting band; the loss: verl's vanilla)"
        if "demo metrics" in run.source:
            return f"{widths} for every method (the demo's band)"
        return f"{widths}, the authors' setting" if run.reference else f"{widths}, the band its abc_grpo loss clips at"
    if len(has) == 4:
        return "the band of its own abc_grpo loss (not logged)"
    if has:
        quadrants = ", ".join("Q" + key[-1] for key in has)
        return f"{quadrants} only (TRL's high/low means, at its own clip); no Q2/Q4 logged"
    if run.curves(PPO_STYLE):
        return "Q1+Q3 = its pg_clipfrac (--vanilla); no Q2/Q4 logged"
    return "no quadrant metrics logged"


# ----------------------------------------------------------------------------------------------------------------
# The summary: numbers with their definitions.


def fmt(value: float, key: str, half: float = math.nan) -> str:
    """A value in the key's unit (shares in %), with its 95% interval half-width when there is one."""
    if math.isnan(value):
        return "–"
    scale, unit = (100.0, "%") if key in SHARES else (1.0, "")

    def number(v, digits):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"

    text = number(scale * value, 3) + unit
    return text if math.isnan(half) else f"{text} ± {number(scale * half, 2)}{unit}"


# The summary's name of each metric.
NAMES = {
    ENTROPY: "entropy",
    REWARD: "reward",
    LENGTH: "response length",
    TRUNCATED: "truncated",
    **{key: f"Q{q} share of tokens" for q, key in enumerate(QUADRANTS, start=1)},
    PPO_STYLE: "Q1+Q3 share of tokens",
    OVERCORRECTION: "Q2+Q4 share of tokens",
    PG_CLIPFRAC: "pg_clipfrac (the loss's own)",
    LR: "learning rate",
    ZERO_STD: "groups with no reward spread",
    LOGP_GAP: "sampler vs trainer log-prob gap (TRL)",
    VERL_PROBS_GAP: "rollout vs trainer prob gap (verl)",
    VERL_LOG_PPL_GAP: "rollout vs trainer log-ppl gap (verl)",
    PPO_KL: "ppo_kl",
    GRAD_NORM: "grad norm",
    **{key: f"time out of band, Q{q}" for q, key in enumerate(BAND_OUT, start=1)},
    **{key: f"back in band after own update, Q{q}" for q, key in enumerate(BAND_RETURN, start=1)},
}
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


def name(key: str) -> str:
    return NAMES.get(key, key.removeprefix(VALIDATION))


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


def diverged_at(run: Run, key: str) -> float | None:
    """The step from which `run`'s `key` stays NaN/inf to the end of its log, or None."""
    return run.nonfinite.get(key, (None, 0))[0]


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
        boot = report_stats.paired_block_bootstrap(rollout_sums(a, key, *window), rollout_sums(b, key, *window))
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


# ----------------------------------------------------------------------------------------------------------------
# Entry point.


def make_output_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise LogError(f"--output-dir {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LogError(f"--output-dir {path}: cannot create it ({err.strerror or err})") from err


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
