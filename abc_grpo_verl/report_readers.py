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
"""The training-dynamics report's readers: one per log format (verl's file logger, the demo's metrics.jsonl, the
evaluation's sweep.jsonl, a Hugging Face trainer_state.json, the packaged extract of the authors' logs), each mapping
the log's own names onto verl's and sending every value through the same checks (``report_checks``)."""

import csv
import gzip
import io
import itertools
import json
import math
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from abc_grpo_verl.report_checks import LogError, Values, metric_value
from abc_grpo_verl.report_model import (
    BAND_OUT,
    BAND_RETURN,
    CLIP_TOKENS,
    ENTROPY,
    EXPECTED,
    GRAD_NORM,
    LENGTH,
    LOGP_GAP,
    LOSS_BAND,
    LR,
    PAPER_EPS,
    PG_CLIPFRAC,
    PPO_KL,
    PPO_STYLE,
    QUADRANTS,
    REPORT_BAND,
    REWARD,
    TRUNCATED,
    VALID_TOKENS,
    VALIDATION,
    VERL_LOG_PPL_GAP,
    VERL_PROBS_GAP,
    ZERO_STD,
    Curve,
    Run,
    curve_of,
    finite_curve,
    with_quadrant_sums,
)

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
