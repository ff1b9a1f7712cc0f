"""The report on what a careful user feeds it: bad logs (one-line errors naming the file), a diverged run, the
baselines' reporting band, the columns TRL and verl log beyond the quadrants, verdicts for single runs, and overlays
of runs that differ in scale, length or model size. Expected numbers are computed here from the inputs."""

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_grpo_verl import report_model, report_readers, report_stats, report_summary
from abc_grpo_verl.report import main
from abc_grpo_verl.report_checks import model_size, overlay_warnings
from abc_grpo_verl.report_model import ENTROPY, PPO_STYLE, QUADRANTS
from abc_grpo_verl.report_readers import load_run_argument, reference_runs
from abc_grpo_verl.report_stats import per_seed

RAW_LOGS = Path(__file__).resolve().parents[1].parent / "shared" / "paper-logs"


def write_verl(path, rows):
    path.write_text("".join(json.dumps({"step": step, "data": data}) + "\n" for step, data in rows))
    return path


def run_report(args, tmp_path, capsys):
    code = main([*map(str, args), "--output-dir", str(tmp_path / "out")])
    return code, capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------
# Bad logs: one line naming the file and the problem


@pytest.mark.parametrize("data, message", [
    ({}, "no metric the report draws in its 3 records (every record's data is empty)"),
    ({"actor/entropy": True, "done": False}, "its 3 records (its values are only JSON booleans)"),
    ({"actor/entropy": 1e308}, "step 1: actor/entropy = 1e+308 is beyond ±1e+100"),
    ({"actor/entropy": -1e308}, "step 1: actor/entropy = -1e+308 is beyond ±1e+100"),
    ({"actor/entropy": "1.0"}, "step 1: actor/entropy is the string '1.0', not a number"),
])
def test_a_bad_verl_log_is_one_line_naming_the_file(tmp_path, capsys, data, message):
    path = write_verl(tmp_path / "log.jsonl", [(step, data) for step in (1, 2, 3)])
    code, err = run_report([path], tmp_path, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {path}")
    assert message in err


def test_a_log_of_nulls_says_so_and_counts_one_record_in_the_singular(tmp_path, capsys):
    path = write_verl(tmp_path / "log.jsonl", [(1, {ENTROPY: None, "critic/score/mean": None})])
    code, err = run_report([path], tmp_path, capsys)
    assert code == 2 and "no metric the report draws in its 1 record (its values are only JSON nulls)" in err


def test_a_log_that_is_nan_throughout_says_so(tmp_path, capsys):
    path = write_verl(tmp_path / "log.jsonl", [(step, {ENTROPY: math.nan}) for step in (1, 2)])
    code, err = run_report([path], tmp_path, capsys)
    assert code == 2 and f"its values of ['{ENTROPY}'] are all NaN or infinite" in err


# Every reader, the same checks: one writer per format, each writing per step {their name: value}.


def write_demo(path, rows):
    path.write_text("".join(json.dumps({"method": "abc_grpo", "seed": 0, "step": step, **data}) + "\n"
                            for step, data in rows))
    return path


def write_trainer_state(path, rows):
    # the reward logged at every optimizer step: one optimizer step per rollout, so step k sits at x = k
    path.write_text(json.dumps({"log_history": [{"step": step, "reward": 0.5, **data} for step, data in rows]}))
    return path


# (writer, file name, its entropy key, its grad-norm key, where a bad value is said to be)
FORMATS = {
    "verl": (lambda p, rows: write_verl(p, rows), "log.jsonl", ENTROPY, "actor/grad_norm"),
    "demo": (write_demo, "metrics.jsonl", "entropy", "grad_norm"),
    "trainer_state": (write_trainer_state, "trainer_state.json", "entropy", "grad_norm"),
}


def healthy(fmt, step):
    _, _, entropy, grad_norm = FORMATS[fmt]
    return {entropy: 0.5 - 0.01 * step, grad_norm: 1.0}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_numeric_string_in_a_drawn_key_is_an_error_in_every_format(tmp_path, capsys, fmt):
    writer, file, entropy, _ = FORMATS[fmt]
    rows = [(step, healthy(fmt, step)) for step in (1, 2)]
    rows[1][1][entropy] = "1.0"
    path = writer(tmp_path / file, rows)
    code, err = run_report([path], tmp_path, capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {path} step 2: {entropy} is the string '1.0', not a number")


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_overflowing_grad_norm_is_an_error_in_every_format(tmp_path, capsys, fmt):
    writer, file, _, grad_norm = FORMATS[fmt]
    rows = [(step, healthy(fmt, step)) for step in (1, 2)]
    rows[0][1][grad_norm] = 1e308
    path = writer(tmp_path / file, rows)
    code, err = run_report([path], tmp_path, capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {path} step 1: {grad_norm} = 1e+308 is beyond ±1e+100")


@pytest.mark.parametrize("fmt", FORMATS)
def test_entropy_nan_from_step_4_is_said_and_never_a_stale_final_in_every_format(tmp_path, capsys, fmt):
    writer, file, entropy, _ = FORMATS[fmt]
    rows = [(step, healthy(fmt, step)) for step in range(1, 7)]
    for _, data in rows[3:]:
        data[entropy] = math.nan
    code, _ = run_report([writer(tmp_path / file, rows)], tmp_path, capsys)
    assert code == 0
    summary = (tmp_path / "out" / "dynamics.md").read_text()
    assert "| entropy, final step | NaN from step 4 |" in summary
    assert "| entropy, last 10% | NaN from step 4 |" in summary
    assert "0.47 |" not in summary  # step 3's value, 0.5 - 0.03, is nowhere shown as where the run ended
    # the mean of the finite steps: (0.49 + 0.48 + 0.47) / 3
    assert "| entropy, mean over steps | 0.48 |" in summary


@pytest.mark.parametrize("fmt, bad", [(fmt, bad) for fmt in FORMATS for bad in ("2024", 1e308)])
def test_a_bad_value_under_a_key_the_report_never_reads_is_a_warning(tmp_path, capsys, fmt, bad):
    writer, file, entropy, _ = FORMATS[fmt]
    rows = [(step, {**healthy(fmt, step), "tag": bad}) for step in (1, 2)]
    path = writer(tmp_path / file, rows)
    code, err = run_report([path], tmp_path, capsys)
    assert code == 0
    assert f"warning: left out, under a key the report does not read: {path} step 1: tag " in err
    assert "(and 1 more)" in err
    # the drawn values are all there: (0.49 + 0.48) / 2
    assert "| entropy, mean over steps | 0.485 |" in (tmp_path / "out" / "dynamics.md").read_text()


def test_an_overflowing_sweep_score_is_an_error(tmp_path, capsys):
    record = {"run": "abc", "step": 10, "benchmark": "gsm8k", "k": 4, "avg@k": 1e308, "pass@k": 50.0, "cons@k": 40.0}
    path = tmp_path / "sweep.jsonl"
    path.write_text(json.dumps(record) + "\n")
    code, err = run_report([path], tmp_path, capsys)
    assert code == 2 and err.startswith(f"error: {path} record 1: avg@k = 1e+308 is beyond ±1e+100")


def test_an_unreadable_run_folder_is_named_not_the_output_dir(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()

    def refuse(self, pattern):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "rglob", refuse)
    code, err = run_report([folder], tmp_path, capsys)
    assert code == 2 and err.startswith(f"error: {folder}: cannot read this folder (")
    assert "--output-dir" not in err


def test_an_output_dir_that_is_a_file_or_cannot_be_made(tmp_path, capsys):
    log = write_verl(tmp_path / "log.jsonl", [(1, {ENTROPY: 0.5}), (2, {ENTROPY: 0.4})])
    blocker = tmp_path / "taken"
    blocker.write_text("")
    for out, message in ((blocker, "is a file, not a folder"), (blocker / "below", "cannot create it")):
        assert main([str(log), "--output-dir", str(out)]) == 2
        err = capsys.readouterr().err
        assert err == f"error: --output-dir {out}: {message}" + err[len(f"error: --output-dir {out}: {message}"):]
        assert err.count("\n") == 1


def test_a_diverged_run_says_nan_from_its_step_and_shows_no_stale_final(tmp_path, capsys):
    rows = [(step, {ENTROPY: 0.5 - 0.01 * step}) for step in range(1, 11)]
    rows += [(step, {ENTROPY: math.nan}) for step in range(11, 16)]
    path = write_verl(tmp_path / "log.jsonl", rows)
    code, _ = run_report([path], tmp_path, capsys)
    assert code == 0
    summary = (tmp_path / "out" / "dynamics.md").read_text()
    assert "| entropy, final step | NaN from step 11 |" in summary
    assert "| entropy, last rollout | NaN from step 11 |" in summary
    assert "| entropy, last 10% | NaN from step 11 |" in summary
    assert "0.4 |" not in summary  # step 10's value, 0.5 - 0.1, is nowhere shown as where the run ended
    assert "log: entropy is NaN from step 11" in summary
    # the mean over the finite steps stays: (0.49 + 0.40) / 2
    assert "| entropy, mean over steps | 0.445 |" in summary


def test_a_diverged_run_gets_no_stale_comparison(tmp_path, capsys):
    healthy_rows = [(step, {ENTROPY: 0.5, "critic/score/mean": 0.1 * step}) for step in range(1, 21)]
    diverged_rows = [(step, {ENTROPY: 0.4 if step <= 10 else math.nan, "critic/score/mean": 0.1 * step})
                     for step in range(1, 21)]
    a, b = write_verl(tmp_path / "a.jsonl", diverged_rows), write_verl(tmp_path / "b.jsonl", healthy_rows)
    code, _ = run_report([f"a={a}", f"b={b}"], tmp_path, capsys)
    assert code == 0
    summary = (tmp_path / "out" / "dynamics.md").read_text()
    assert "- **Entropy ratio a / b**: none: a's is NaN from step 11 (a diverged run)." in summary
    assert "| entropy, last 10% | NaN from step 11 | – | – | no verdict: a diverged run |" in summary
    compared = summary[summary.index("## How the runs differ"):summary.index("## Definitions")]
    assert "0.80x" not in compared and "| 0.4 | 0.5 |" not in compared
    # the reward, finite in both, is still compared: equal in every step
    assert "| reward, last 10% (steps 19..20) | 1.95 | 1.95 | 0 |" in summary


def test_a_transient_nan_is_counted_not_hidden(tmp_path):
    path = write_verl(tmp_path / "log.jsonl", [(1, {ENTROPY: 0.5}), (2, {ENTROPY: math.inf}), (3, {ENTROPY: 0.3})])
    (run,) = load_run_argument(str(path))
    assert run.nonfinite == {ENTROPY: (None, 1)}
    assert run.seeds[0][ENTROPY].y.tolist() == [0.5, 0.3]
    assert "NaN/inf at 1 step(s)" in report_summary.nonfinite_notes([run])[0]


# ----------------------------------------------------------------------------------------------------------------
# Baselines: quadrant metrics against a reporting band, named in the figure and the summary


def test_band_keys_are_the_losses():
    from abc_grpo_verl.config import BAND_METRICS, REPORT_BAND_METRICS

    assert (report_model.LOSS_BAND, report_model.REPORT_BAND) == (BAND_METRICS, REPORT_BAND_METRICS)


def test_a_baseline_log_fills_every_quadrant_and_names_its_band(tmp_path, capsys):
    band = dict(zip(report_model.REPORT_BAND, (0.2, 0.2, math.inf, 0.2), strict=True))
    rows = [(step, {ENTROPY: 0.4, "actor/pg_clipfrac": 0.003, **band, "actor/abc_valid_tokens": 1000.0,
                    **{f"actor/abc_clip_tokens_q{q}": float(q * step) for q in range(1, 5)},
                    **{f"actor/abc_clipfrac_q{q}": q * step / 1000 for q in range(1, 5)}}) for step in (1, 2)]
    path = write_verl(tmp_path / "grpo.jsonl", rows)
    (run,) = load_run_argument(f"grpo={path}")
    assert run.band == (0.2, 0.2, math.inf, 0.2)  # verl's file logger writes inf as Infinity: read back as inf
    # Q4 pooled: (4 + 8) / 2000
    assert per_seed(run, QUADRANTS[3], "mean", 0, 2)[0] == pytest.approx(0.006)
    assert "ε1..ε4 = 0.2, 0.2, inf, 0.2 (reporting band; the loss: verl's vanilla)" in report_model.band_note(run)
    assert run_report([f"grpo={path}"], tmp_path, capsys)[0] == 0
    assert "| grpo |" in (tmp_path / "out" / "dynamics.md").read_text()
    assert "ε1..ε4 = 0.2, 0.2, inf, 0.2" in (tmp_path / "out" / "dynamics.md").read_text()


def abc_and_baseline_logs(tmp_path, abc_band, baseline_band):
    counts = {"actor/abc_valid_tokens": 1000.0, **{f"actor/abc_clip_tokens_q{q}": float(q) for q in range(1, 5)},
              **{f"actor/abc_clipfrac_q{q}": q / 1000 for q in range(1, 5)}}
    abc = [(s, {ENTROPY: 0.5, **counts, **dict(zip(report_model.LOSS_BAND, abc_band, strict=True))}) for s in (1, 2)]
    report_band = dict(zip(report_model.REPORT_BAND, baseline_band, strict=True))
    grpo = [(s, {ENTROPY: 0.4, **counts, **report_band}) for s in (1, 2)]
    return write_verl(tmp_path / "abc.jsonl", abc), write_verl(tmp_path / "grpo.jsonl", grpo)


def test_an_abc_log_names_the_band_its_loss_clips_at(tmp_path):
    abc, grpo = abc_and_baseline_logs(tmp_path, (0.2, 0.2, 0.2, 0.2), (0.2, 0.2, 0.2, 0.2))
    (run,) = load_run_argument(str(abc))
    assert (run.band, run.band_is_loss) == ((0.2, 0.2, 0.2, 0.2), True)
    assert report_model.band_note(run) == "ε1..ε4 = 0.2, 0.2, 0.2, 0.2, the band its abc_grpo loss clips at"
    runs = [run, *load_run_argument(str(grpo))]
    assert not [w for w in overlay_warnings(runs) if "bands differ" in w]


def test_runs_whose_bands_differ_are_warned_about(tmp_path, capsys):
    abc, grpo = abc_and_baseline_logs(tmp_path, (0.2, 0.2, 0.2, 0.2), (0.2, 0.2, math.inf, 0.2))
    code, err = run_report([f"abc={abc}", f"grpo={grpo}"], tmp_path, capsys)
    assert code == 0
    warning = ("runs whose Q1..Q4 bands differ overlaid (ε1..ε4 of abc: 0.2, 0.2, 0.2, 0.2; grpo: 0.2, 0.2, inf, 0.2)"
               ": their quadrant shares count different tokens")
    assert warning in err and warning in (tmp_path / "out" / "dynamics.md").read_text()


# ----------------------------------------------------------------------------------------------------------------
# The columns beyond the quadrants, and the last rollout beside the final step


def raw(name):
    with gzip.open(RAW_LOGS / f"{name}.trainer_state.json.gz", "rt") as f:
        return json.load(f)["log_history"]


@pytest.mark.skipif(not RAW_LOGS.is_dir(), reason="needs ../shared/paper-logs (the authors' raw logs)")
def test_dropped_columns_and_last_rollout_agree_with_the_raw_logs():
    abc, grpo = reference_runs("paper-4b")
    raw_abc, raw_grpo = raw("Qwen3-4B-Base-abc-grpo"), raw("Qwen3-4B-Base-grpo")
    for run, history in ((abc, raw_abc), (grpo, raw_grpo)):
        for ours, theirs in ((report_model.ZERO_STD, "frac_reward_zero_std"),
                             (report_model.LOGP_GAP, "sampling/sampling_logp_difference/mean"),
                             (report_model.LR, "learning_rate")):
            values = [e[theirs] for e in history if theirs in e]
            assert per_seed(run, ours, "mean", *report_summary.own_span(run, ours))[0] == pytest.approx(np.mean(values),
                                                                                                  rel=1e-5)
        # the learning rate at the final optimizer step has decayed to about 0
        assert per_seed(run, report_model.LR, "final", *report_summary.own_span(run, report_model.LR))[0] < 1e-11
    # the last rollout: the last 4 optimizer steps' entropies (4 per rollout), their mean in each run
    last = [np.mean([e["entropy"] for e in h if "entropy" in e][-4:]) for h in (raw_abc, raw_grpo)]
    assert "11.09x over the last rollout" in report_summary.entropy_ratios(abc, grpo)
    assert round(last[0] / last[1], 2) == 11.09
    # the gap is about twice GRPO's under ABC
    gap_key = report_model.LOGP_GAP
    gap = [per_seed(r, gap_key, "mean", *report_summary.own_span(r, gap_key))[0] for r in (abc, grpo)]
    assert 1.7 < gap[0] / gap[1] < 2.3


def test_verls_equivalents_are_read_from_a_verl_log(tmp_path):
    rows = [(step, {ENTROPY: 0.4, "actor/lr": 1e-6 / step, "training/rollout_probs_diff_mean": 0.01 * step,
                    "rollout_corr/log_ppl_abs_diff": 0.02}) for step in (1, 2)]
    (run,) = load_run_argument(str(write_verl(tmp_path / "log.jsonl", rows)))
    assert run.seeds[0][report_model.LR].y.tolist() == [1e-6, 5e-7]
    assert run.seeds[0][report_model.VERL_PROBS_GAP].y.tolist() == [0.01, 0.02]
    assert run.seeds[0][report_model.VERL_LOG_PPL_GAP].y.tolist() == [0.02, 0.02]


# ----------------------------------------------------------------------------------------------------------------
# Verdicts for single runs: a step-paired block bootstrap


def test_the_1_7b_q1_plus_q3_difference_is_a_yes():
    abc, grpo = reference_runs("paper-1.7b")
    row = report_summary.difference_row(abc, grpo, PPO_STYLE, "mean")
    assert "| 0.0817% | 0.0581% |" in row and "**yes**: 95% block-bootstrap CI" in row


def sums(values):
    return {step: (float(v), 1.0) for step, v in enumerate(values, start=1)}


def test_block_length_follows_the_autocorrelation():
    rng = np.random.default_rng(1)
    noise = rng.normal(size=400)
    assert report_stats.block_length(noise) == math.ceil(400 ** (1 / 3))  # white noise: the minimum block
    walk = np.cumsum(noise)  # a random walk stays correlated over long lags
    assert report_stats.block_length(walk) > 40


def test_bootstrap_yes_for_a_shift_no_for_noise_and_no_verdict_when_short():
    rng = np.random.default_rng(2)
    trend = np.linspace(0, 1, 200)
    a, b = trend + rng.normal(0, 0.05, 200), trend + rng.normal(0, 0.05, 200)
    assert not report_stats.paired_block_bootstrap(sums(a), sums(b)).differs
    shifted = report_stats.paired_block_bootstrap(sums(a + 0.05), sums(b))
    assert shifted.differs and shifted.low > 0
    short = report_stats.paired_block_bootstrap(sums(a[:5]), sums(b[:5]))
    assert short.steps == 5 and not short.judged


def loop_bootstrap(a, b, block, seed=report_stats.SEED, resamples=report_stats.RESAMPLES):
    """The step-paired circular block bootstrap written as loops: replicate r takes ceil(n / block) blocks, the j-th
    starting at the r-th row's j-th uniform draw, keeps the first n steps, and pools each run over them."""
    n = len(a)
    per_replicate = -(-n // block)
    starts = np.random.default_rng(seed).integers(0, n, size=(resamples, per_replicate))  # the same draws
    replicates = []
    for row in starts:
        steps = [(start + k) % n for start in row for k in range(block)][:n]
        replicates.append(sum(a[i] for i in steps) / n - sum(b[i] for i in steps) / n)
    replicates.sort()

    def percentile(p):  # linear interpolation between order statistics
        position = p / 100 * (resamples - 1)
        low = int(position)
        return replicates[low] + (position - low) * (replicates[min(low + 1, resamples - 1)] - replicates[low])

    return percentile(2.5), percentile(97.5)


def test_bootstrap_matches_a_loop_reference_exactly():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=12).tolist(), rng.normal(size=12).tolist()
    boot = report_stats.paired_block_bootstrap(sums(a), sums(b))
    assert boot.judged and boot.steps == 12 and boot.block == math.ceil(12 ** (1 / 3))
    assert boot.difference == pytest.approx(sum(a) / 12 - sum(b) / 12, abs=1e-12)
    low, high = loop_bootstrap(a, b, boot.block)
    assert boot.low == pytest.approx(low, abs=1e-12) and boot.high == pytest.approx(high, abs=1e-12)


def test_bootstrap_false_yes_rate_on_ar1_noise_with_no_difference():
    # two independent AR(1) series (phi 0.5) of 200 steps, 300 times: a 95% interval should say "yes" about 5% of
    # the time; the moving-block percentile interval is known to run narrow, measured here at about 9% (docs/report.md)
    rng = np.random.default_rng(7)
    series, steps, phi = 300, 200, 0.5
    noise = rng.normal(size=(series, 2, steps))
    x = np.zeros_like(noise)
    for i in range(steps):
        x[..., i] = (phi * x[..., i - 1] if i else 0) + noise[..., i]
    rate = np.mean([report_stats.paired_block_bootstrap(sums(pair[0]), sums(pair[1])).differs for pair in x])
    assert 0.02 <= rate <= 0.12, rate


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=12, max_size=60), st.lists(st.floats(-1, 1), min_size=12, max_size=60),
       st.floats(-5, 5))
def test_bootstrap_is_antisymmetric_and_blind_to_a_common_offset(xs, ys, offset):
    n = min(len(xs), len(ys))
    a, b = np.array(xs[:n]), np.array(ys[:n])
    forward = report_stats.paired_block_bootstrap(sums(a), sums(b))
    backward = report_stats.paired_block_bootstrap(sums(b), sums(a))
    assert forward.difference == pytest.approx(-backward.difference, abs=1e-12)
    if forward.judged:
        assert forward.low == pytest.approx(-backward.high, abs=1e-9)
        moved = report_stats.paired_block_bootstrap(sums(a + offset), sums(b + offset))
        assert moved.low == pytest.approx(forward.low, abs=1e-9) and moved.high == pytest.approx(forward.high, abs=1e-9)


# ----------------------------------------------------------------------------------------------------------------
# Overlays


def test_panels_whose_runs_differ_tenfold_are_log_scaled_and_said(tmp_path, capsys):
    small = write_verl(tmp_path / "small.jsonl", [(s, {ENTROPY: 0.4, "actor/grad_norm": 0.03}) for s in range(1, 9)])
    large = write_verl(tmp_path / "large.jsonl", [(s, {ENTROPY: 0.5, "actor/grad_norm": 5.0}) for s in range(1, 9)])
    assert run_report([f"a={small}", f"b={large}"], tmp_path, capsys)[0] == 0
    summary = (tmp_path / "out" / "dynamics.md").read_text()
    # 5 / 0.03 = 167x on the grad-norm panel; entropy 0.5 / 0.4 stays linear
    assert "panel 'grad norm': the runs' scales differ by more than 10x (a ~0.03, b ~5)" in summary
    assert "panel 'entropy'" not in summary


def test_runs_of_very_different_length_or_size_are_warned_about(tmp_path, capsys):
    demo = write_verl(tmp_path / "qwen3_8b_run.jsonl", [(s, {ENTROPY: 0.4}) for s in range(1, 61)])
    code, err = run_report([demo, "--reference", "paper-4b"], tmp_path, capsys)
    assert code == 0
    lengths = "qwen3_8b_run ends at step 60, paper 4B ABC-GRPO ends at step 335"
    assert f"runs of very different length overlaid ({lengths}" in err
    assert "runs of different model sizes overlaid (8B: qwen3_8b_run; 4B: paper 4B ABC-GRPO, paper 4B GRPO" in err
    assert "runs of very different length" in (tmp_path / "out" / "dynamics.md").read_text()
    assert model_size("Qwen3-1.7B-Base") == 1.7 and model_size("demo: abc_grpo") is None
    assert overlay_warnings(reference_runs("paper-4b")) == []


def test_the_figures_band_statement_is_one_line_per_band_and_fits():
    quadrants = {f"quadrant_q{q}": 0.01 for q in range(1, 5)}
    records = [{"method": m, "seed": 0, "step": 1, **quadrants} for m in ("abc_grpo", "grpo", "dual_clip")]
    runs = [*report_readers.demo_runs(Path("metrics.jsonl"), records, "demo"), *reference_runs("paper-4b")]
    lines = report_model.band_lines(runs)
    # the demo's three methods share one band, the authors' ABC run has 0.2 x 4 too but its own note, GRPO a third
    assert lines == [
        "Q1..Q4 band of demo: abc_grpo, demo: grpo, demo: dual_clip: ε1..ε4 = 0.2, 0.2, 0.2, 0.2 for every method "
        "(the demo's band)",
        "Q1..Q4 band of paper 4B ABC-GRPO: ε1..ε4 = 0.2, 0.2, 0.2, 0.2, the authors' setting",
        "Q1..Q4 band of paper 4B GRPO: Q1, Q3 only (TRL's high/low means, at its own clip); no Q2/Q4 logged",
    ]
    assert all(len(line) <= report_model.TITLE_WIDTH for line in lines)


def test_symlog_share_ticks_are_distinct():
    ticks = [0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0]
    labels = [report_model.share_tick(v) for v in ticks]
    assert labels == ["0%", "0.001%", "0.01%", "0.1%", "1%", "10%", "100%"]
