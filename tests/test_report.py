"""The training-dynamics report, `python -m abc_grpo_verl.report`: the three log formats, the metric mapping against
hand-computed values, the authors' logs through the packaged extract (checked against the raw files), bad logs,
and the files it writes.

The fixtures in tests/fixtures/report/ are written by hand; every expected number below is worked out from them in
the comment next to it.
"""

import gzip
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from abc_grpo_verl import report, report_model, report_readers, report_stats, report_summary
from abc_grpo_verl.report import main
from abc_grpo_verl.report_checks import LogError
from abc_grpo_verl.report_model import ENTROPY, OVERCORRECTION, QUADRANTS, REWARD
from abc_grpo_verl.report_readers import load_run_argument, reference_runs
from abc_grpo_verl.report_stats import per_seed

FIXTURES = Path(__file__).parent / "fixtures" / "report"
RAW_LOGS = Path(__file__).resolve().parents[1].parent / "shared" / "paper-logs"


def only(runs):
    assert len(runs) == 1
    return runs[0]


def stat(run, key, statistic, seed=0):
    return per_seed(run, key, statistic, *report_summary.own_span(run, key))[seed]


# ----------------------------------------------------------------------------------------------------------------
# The three formats


def test_verl_file_logger_log_and_token_pooled_shares():
    run = only(load_run_argument(str(FIXTURES / "verl_abc.jsonl")))
    assert run.label == "verl_abc" and "verl file logger" in run.source
    curves = run.seeds[0]
    assert curves[ENTROPY].x.tolist() == [1, 2, 3, 4] and curves[ENTROPY].y.tolist() == [0.5, 0.4, 0.45, 0.6]
    # the log has the raw counts, so a step's share is count / valid tokens: step 3, Q4 = 5 / 500 (it logs 0.0095)
    assert curves[QUADRANTS[3]].y[2] == pytest.approx(0.01)
    # Q2+Q4 at step 2: (1 + 4) / 1000
    assert curves[OVERCORRECTION].y[1] == pytest.approx(0.005)
    # over the run, pooled: Q4 = (0 + 4 + 5 + 2) / (1000 + 1000 + 500 + 500), not the mean of shares (0.004375)
    assert stat(run, QUADRANTS[3], "mean") == pytest.approx(11 / 3000)
    # a quadrant's part of all out-of-band tokens: Q4 = 11 / (3 + 2 + 6 + 11)
    assert report_stats.clipped_shares(run)[0][3] == pytest.approx(11 / 22)
    assert report_summary.quadrant_basis(run) == "token counts (exact pooled shares)"
    # validation at steps 1 and 4; cumulative tokens 3000, 6200, 8700, 11000
    assert curves["val-core/math500/acc/mean@1"].y.tolist() == [0.3, 0.4]
    assert report.token_axis(run, np.array([0.0, 2.0, 4.0])).tolist() == [0.0, 6200.0, 11000.0]


def test_verl_log_without_abc_metrics_has_no_quadrants():
    run = only(load_run_argument(str(FIXTURES / "verl_grpo.jsonl")))
    assert not any(run.curves(key) for key in QUADRANTS)
    assert report_summary.quadrant_basis(run) == "not logged"
    assert report_model.PPO_STYLE not in run.seeds[0]  # verl's log does not say which loss ran
    assert stat(run, ENTROPY, "mean") == pytest.approx((0.5 + 0.3 + 0.2 + 0.15) / 4)


def test_a_vanilla_run_reads_its_pg_clipfrac_as_its_q1_plus_q3_share(tmp_path, capsys):
    runs = load_run_argument(f"abc={FIXTURES / 'verl_abc.jsonl'}") + load_run_argument(
        f"grpo={FIXTURES / 'verl_grpo.jsonl'}")
    report_readers.read_as_vanilla(runs, ["grpo"])
    grpo = runs[1]
    # the fixture's pg_clipfrac at steps 1-2: 0.0, 0.004
    assert grpo.seeds[0][report_model.PPO_STYLE].y[:2].tolist() == [0.0, 0.004]
    assert "Q1+Q3 = its pg_clipfrac (--vanilla)" in grpo.source
    for label, message in (("nobody", "no run has that label; the runs are ['abc', 'grpo']"),
                           ("abc", "its log has the quadrant metrics")):
        with pytest.raises(LogError, match=re.escape(f"--vanilla {label}: {message}")):
            report_readers.read_as_vanilla(runs, [label])
    out = tmp_path / "out"
    assert main([f"abc={FIXTURES / 'verl_abc.jsonl'}", f"grpo={FIXTURES / 'verl_grpo.jsonl'}", "--vanilla", "grpo",
                 "--output-dir", str(out)]) == 0
    # the comparison: abc pools its Q1+Q3 counts, (0+0 + 2+3 + 1+2 + 0+1) / 3000 = 0.3%; grpo's pg_clipfrac averages
    # (0 + 0.004 + 0.006 + 0.005) / 4 = 0.375%
    summary = (out / "dynamics.md").read_text()
    assert "| Q1+Q3 share of tokens, mean over steps (steps 1..4) | 0.3% | 0.375% |" in summary


def test_trainer_state_mapping_onto_quadrants():
    run = only(load_run_argument(f"abc={FIXTURES / 'trainer_state.json'}"))
    assert run.label == "abc" and "trainer_state" in run.source
    curves = run.seeds[0]
    # reward logged at optimizer steps 1 and 5: 4 optimizer steps per rollout, so step k sits at k / 4
    assert curves[ENTROPY].x.tolist() == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert curves[REWARD].x.tolist() == [1, 2] and curves[REWARD].y.tolist() == [0.125, 0.375]
    # optimizer step 2: ppo_style 0.002 split 0.25 / 0.75 into Q1 / Q3; overcorrection 0.004 split 0.5 / 0.5 into
    # Q2 / Q4
    assert [curves[key].y[1] for key in QUADRANTS] == pytest.approx([0.0005, 0.002, 0.0015, 0.002])
    # step 6: ppo_style 0.004 -> Q1 0.002, Q3 0.002; overcorrection 0.008 -> Q2 0.002, Q4 0.006
    assert [curves[key].y[5] for key in QUADRANTS] == pytest.approx([0.002, 0.002, 0.002, 0.006])
    # sums over the 8 steps: Q1 0.0045, Q2 0.004, Q3 0.0045, Q4 0.012 (of 0.025): Q4 is 48% of the events
    assert report_stats.clipped_shares(run)[0] == pytest.approx([0.18, 0.16, 0.18, 0.48])
    assert stat(run, QUADRANTS[3], "mean") == pytest.approx(0.012 / 8)
    # TRL's num_tokens is cumulative already: 20,000 after rollout 1, 44,000 after rollout 2
    assert report.token_axis(run, np.array([1.0, 2.0])).tolist() == [20000.0, 44000.0]


def test_plain_trl_log_gives_q1_and_q3_from_its_high_and_low_means(tmp_path):
    history = [
        {"step": s, "entropy": 0.5, "reward": 0.5, "clip_ratio/high_mean": 0.001 * s, "clip_ratio/low_mean": 0.002}
        for s in range(1, 5)
    ]
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": history}))
    run = only(load_run_argument(str(path)))
    assert run.label == tmp_path.name  # a trainer_state.json is named after its folder
    assert run.seeds[0][QUADRANTS[0]].y.tolist() == [0.001, 0.002, 0.003, 0.004]
    assert not run.curves(QUADRANTS[1]) and not run.curves(QUADRANTS[3])
    assert run.seeds[0][report_model.PPO_STYLE].y == pytest.approx([0.003, 0.004, 0.005, 0.006])


def test_demo_metrics_one_run_per_method_with_its_seeds():
    runs = load_run_argument(f"demo={FIXTURES / 'metrics.jsonl'}")
    assert [run.label for run in runs] == ["demo: abc_grpo", "demo: grpo"]
    abc, grpo = runs
    assert sorted(abc.seeds) == [0, 1] and all(run.group == "demo" for run in runs)
    # entropy means over steps: seed 0 (0.40+0.41+0.42+0.45)/4 = 0.42, seed 1 (0.30+0.31+0.33+0.36)/4 = 0.325
    assert per_seed(abc, ENTROPY, "mean", -1, 3) == pytest.approx({0: 0.42, 1: 0.325})
    # time out of band, Q4: (8 + 9 + 10 + 11) token-steps of 4 x 2000
    assert stat(abc, report_model.BAND_OUT[3], "mean") == pytest.approx(38 / 8000)
    # back in band after own update, Q4: ABC 3 of 12, GRPO 6 of 12; Q2: ABC 0 of 8, GRPO 4 of 8
    assert stat(abc, report_model.BAND_RETURN[3], "mean") == pytest.approx(0.25)
    assert stat(grpo, report_model.BAND_RETURN[3], "mean") == pytest.approx(0.5)
    q2_return = report_model.BAND_RETURN[1]
    assert stat(abc, q2_return, "mean") == 0.0 and stat(grpo, q2_return, "mean") == 0.5
    assert abc.seeds[0]["val-core/held-out/pass@1"].y.tolist() == [0.5, 0.6]


def test_evaluation_sweep_one_run_per_swept_run_with_its_scores_over_steps(tmp_path):
    runs = load_run_argument(f"eval={FIXTURES / 'sweep.jsonl'}")
    assert [(r.label, r.group) for r in runs] == [("eval: abc", "eval"), ("eval: grpo", "eval")]
    abc = runs[0].seeds[0]
    assert sorted(abc) == ["val-core/aime24/avg@4 (%)", "val-core/aime24/cons@4 (%)", "val-core/aime24/pass@4 (%)"]
    assert abc["val-core/aime24/pass@4 (%)"].x.tolist() == [10, 20, 30]
    assert abc["val-core/aime24/avg@4 (%)"].y.tolist() == [5.0, 7.5, 8.3]  # the file's numbers, in %
    # a folder holding the sweep's outputs reads the same
    (tmp_path / "sweep.jsonl").write_bytes((FIXTURES / "sweep.jsonl").read_bytes())
    assert [r.label for r in load_run_argument(f"eval={tmp_path}")] == ["eval: abc", "eval: grpo"]
    out = tmp_path / "out"
    assert main([f"eval={tmp_path}", "--output-dir", str(out)]) == 0
    summary = (out / "dynamics.md").read_text()
    assert "### eval: abc vs eval: grpo" in summary
    # Pass@4 at the last step (30): 30.0 vs 23.3; Avg@4 first step 5 for both
    assert "| aime24/pass@4 (%), final step | 30 | 23.3 |" in summary
    assert "| aime24/avg@4 (%), first step | 5 | 5 |" in summary


@pytest.mark.parametrize(
    "line, message",
    [
        ({"run": "a", "step": 1, "benchmark": "b", "k": 4, "avg@k": 1.0, "pass@k": 2.0}, "lacks ['cons@k']"),
        ({"run": "a", "step": "1", "benchmark": "b", "k": 4, "avg@k": 1.0, "pass@k": 2.0, "cons@k": 1.0},
         "step must be an integer"),
        ({"run": "a", "step": 1, "benchmark": "b", "k": 4, "avg@k": None, "pass@k": 2.0, "cons@k": 1.0},
         "numbers, got [1, None, 2.0, 1.0]"),
    ],
)
def test_a_broken_sweep_line_is_an_error_naming_the_file_and_record(tmp_path, capsys, line, message):
    path = tmp_path / "sweep.jsonl"
    good = {"run": "a", "step": 0, "benchmark": "b", "k": 4, "avg@k": 1.0, "pass@k": 2.0, "cons@k": 1.0}
    path.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    assert main([str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path} record 2" in err and message in err
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")  # the same checkpoint twice
    assert main([str(path), "--output-dir", str(tmp_path / "out")]) == 2
    assert "several val-core/b/avg@4 (%) values at one step" in capsys.readouterr().err


def test_paired_seed_differences_and_their_interval():
    abc, grpo = load_run_argument(f"demo={FIXTURES / 'metrics.jsonl'}")
    row = report_summary.difference_row(abc, grpo, ENTROPY, "last")
    # last 10% of steps 0..3 is step 3: ABC - GRPO = 0.45 - 0.43 = 0.02 and 0.36 - 0.32 = 0.04, mean 0.03;
    # 95% half-width t(0.975, 1) * sd / sqrt(2) = 12.706 * 0.014142 / 1.4142 = 0.127: the interval includes 0
    assert "| 0.03 |" in row and "no: 95% CI -0.0971 .. 0.157; higher in 2 of 2 seeds" in row
    # back in band, Q4, at step 3: 1/4 vs 2/4 in both seeds: -25 points with no spread, so it differs
    assert "**yes**" in report_summary.difference_row(abc, grpo, report_model.BAND_RETURN[3], "last")


def test_a_seed_without_events_in_the_window_drops_out_of_the_pairing(tmp_path):
    records = [json.loads(line) for line in (FIXTURES / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        if record["seed"] == 1 and record["step"] == 3:  # no Q4 token was out of band at its update: no share
            record["band_seen_out_q4"] = record["band_back_q4"] = 0
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    abc, grpo = load_run_argument(str(path))
    # seed 0 alone is left: 1/4 vs 2/4, judged against the step-to-step noise of a one-step window
    row = report_summary.difference_row(abc, grpo, report_model.BAND_RETURN[3], "last")
    assert "| 25% | 50% | -25% | too few steps in the window to judge |" in row


def test_t_quantiles_match_the_tables():
    # two-sided 95% critical values of Student's t, from any statistics table
    for df, expected in ((1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)):
        assert report_stats.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)


def test_resumed_verl_run_is_merged_by_step(tmp_path, capsys):
    def write(name, steps, entropy, tail=""):
        lines = [json.dumps({"step": s, "data": {ENTROPY: entropy}}) for s in steps]
        (tmp_path / name).write_text("\n".join(lines) + "\n" + tail)

    write("train_log-1.jsonl", range(1, 6), 0.5)  # crashed after step 5; resumed from the checkpoint of step 3
    write("train_log-2.jsonl", range(4, 8), 0.4, tail='{"step": 8, "da')  # still writing its last line
    run = only(load_run_argument(str(tmp_path)))
    assert run.label == tmp_path.name
    assert run.seeds[0][ENTROPY].x.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert run.seeds[0][ENTROPY].y.tolist() == [0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4]
    assert "incomplete last line ignored" in capsys.readouterr().err
    write("train_log-3.jsonl", range(4, 6), 0.3)
    with pytest.raises(LogError, match="both start at step 4"):
        load_run_argument(str(tmp_path))


def test_hugging_face_output_folder_uses_its_latest_checkpoint(tmp_path):
    for step in (2, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
        history = [{"step": s, "entropy": float(step)} for s in range(1, step + 1)]
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    run = only(load_run_argument(str(tmp_path)))
    assert run.seeds[0][ENTROPY].y[-1] == 10.0  # checkpoint-10, not checkpoint-2 (sorted as numbers)


# ----------------------------------------------------------------------------------------------------------------
# The authors' logs


def test_paper_4b_entropy_ratios_from_the_packaged_extract():
    abc, grpo = reference_runs("paper-4b")
    assert (abc.label, grpo.label) == ("paper 4B ABC-GRPO", "paper 4B GRPO")
    # 1,340 optimizer steps, 4 per rollout: 335 rollout steps
    assert len(abc.seeds[0][ENTROPY].x) == 1340 and abc.seeds[0][ENTROPY].x[-1] == 335
    line = report_summary.entropy_ratios(abc, grpo)
    # the paper's "10.9x higher entropy" is the final-step ratio; over all steps it is about 3.65x
    assert "10.89x at the last step both have (step 335)" in line and "3.65x averaged over all steps" in line


@pytest.mark.skipif(not RAW_LOGS.is_dir(), reason="needs ../shared/paper-logs (the authors' raw logs)")
@pytest.mark.parametrize("size", ["1.7b", "4b"])
def test_extract_agrees_with_the_raw_logs(size):
    """Entropy ratios and the Q4 share computed straight from the authors' gzip files, with no report code."""

    def raw(run):
        with gzip.open(RAW_LOGS / f"{run}.trainer_state.json.gz", "rt") as f:
            return json.load(f)["log_history"]

    model = {"1.7b": "Qwen3-1.7B-Base", "4b": "Qwen3-4B-Base"}[size]
    raw_abc, raw_grpo = raw(f"{model}-abc-grpo"), raw(f"{model}-grpo")
    entropy_abc = [e["entropy"] for e in raw_abc if "entropy" in e]
    entropy_grpo = [e["entropy"] for e in raw_grpo if "entropy" in e]
    q4 = sum(
        e["clip_ratio/overcorrection"] * e["clip_ratio/overcorrection_neg_adv_pct"]
        for e in raw_abc
        if "clip_ratio/overcorrection" in e
    )
    events = sum(
        e["clip_ratio/ppo_style"] + e["clip_ratio/overcorrection"] for e in raw_abc if "clip_ratio/ppo_style" in e
    )

    abc, grpo = reference_runs(f"paper-{size}")
    start, end = report_stats.span([abc, grpo], ENTROPY)
    final = per_seed(abc, ENTROPY, "final", start, end)[0] / per_seed(grpo, ENTROPY, "final", start, end)[0]
    mean = per_seed(abc, ENTROPY, "mean", start, end)[0] / per_seed(grpo, ENTROPY, "mean", start, end)[0]
    # the extract keeps 6 significant digits
    assert final == pytest.approx(entropy_abc[-1] / entropy_grpo[-1], rel=1e-5)
    assert mean == pytest.approx(np.mean(entropy_abc) / np.mean(entropy_grpo), rel=1e-5)
    assert report_stats.clipped_shares(abc)[0][3] == pytest.approx(q4 / events, rel=1e-4)
    if size == "4b":  # the figures quoted in ../shared/docs/abc-grpo-paper.md section 5
        assert round(final, 1) == 10.9 and round(mean, 2) == 3.65 and round(100 * q4 / events, 1) == 41.5


# ----------------------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b'{"step": 1, "data": {}}\nnot json\n{"step": 3, "data": {}}\n', "line 2: not JSON"),
        (b'{"step": 1, "data": {}}\n[1, 2]\n{"step": 3, "data": {}}\n', "line 2: a JSON list, not an object"),
        (b'{"epoch": 1, "loss": 0.3}\n', "a format the report does not know"),
        (b'{"step": 1, "data": {}}\n{"step": "two", "data": {}}\n{"step": 3, "data": {}}\n', "record 2: keys"),
        (b'{"log_history": {"step": 1}}', "log_history is a dict, expected a list"),
        (b'{"log_history": [{"step": 1, "loss": 0.2}]}', "log_history has none of"),
        (b"\x1f\x8b\x08\x00garbage", "cannot read it"),
        (b"\xff\xfe\x00binary", "cannot read it"),
    ],
)
def test_unreadable_log_is_an_error_naming_the_file(tmp_path, capsys, content, message):
    path = tmp_path / "broken.jsonl"
    path.write_bytes(content)
    assert main([str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err
    assert not (tmp_path / "out" / "dynamics.png").exists()


def test_missing_or_ambiguous_inputs(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere"), "--output-dir", str(tmp_path)]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main([str(tmp_path), "--output-dir", str(tmp_path / "out")]) == 2  # an empty folder
    assert "no training log in this folder" in capsys.readouterr().err
    assert main([str(FIXTURES), "--output-dir", str(tmp_path)]) == 2  # the fixtures: several formats
    assert "several formats" in capsys.readouterr().err
    path = str(FIXTURES / "verl_abc.jsonl")
    assert main([path, path, "--output-dir", str(tmp_path)]) == 2
    assert "LABEL=PATH" in capsys.readouterr().err
    assert main([f"x={FIXTURES / 'verl_grpo.jsonl'}", f"y={path}", "--x", "tokens", "--output-dir", str(tmp_path)]) == 0
    assert main([f"x={FIXTURES / 'trainer_state.json'}", "--x", "tokens", "--output-dir", str(tmp_path)]) == 0
    history = tmp_path / "no_tokens.json"
    history.write_text(json.dumps({"log_history": [{"step": 1, "entropy": 0.5}, {"step": 2, "entropy": 0.4}]}))
    assert main([str(history), "--x", "tokens", "--output-dir", str(tmp_path)]) == 2
    assert "--x tokens needs token counts" in capsys.readouterr().err
    assert main([path, "--panels", "actor/entropy,val-core/", "--output-dir", str(tmp_path)]) == 0
    assert main([path, "--panels", "actor/entropy,actor/kl", "--output-dir", str(tmp_path)]) == 2
    assert "--panels actor/kl: no such metric in these runs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--output-dir", str(tmp_path)])  # nothing to report
    with pytest.raises(SystemExit):
        main([path, "--smooth", "-1"])


# ----------------------------------------------------------------------------------------------------------------
# What it writes


def test_report_writes_figure_and_summary(tmp_path):
    out = tmp_path / "out"
    args = [
        f"abc={FIXTURES / 'verl_abc.jsonl'}",
        f"grpo={FIXTURES / 'verl_grpo.jsonl'}",
        f"demo={FIXTURES / 'metrics.jsonl'}",
        "--reference",
        "paper-4b",
        "--output-dir",
        str(out),
    ]
    assert main(args) == 0
    assert (out / "dynamics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "dynamics.md").read_text()
    # the two verl runs: final step 0.6 / 0.15; last 10% of steps 1..4 is step 4; all steps 0.4875 / 0.2875
    assert (
        "**Entropy ratio abc / grpo**: 4.00x at the last step both have (step 4), 4.00x over the last 10% of "
        "steps, 1.70x averaged over all steps" in summary
    )
    assert "**Entropy ratio paper 4B ABC-GRPO / paper 4B GRPO**: 10.89x" in summary
    assert "### demo: abc_grpo vs demo: grpo" in summary and "### abc vs grpo" in summary
    assert "| abc | " in summary and "token counts (exact pooled shares)" in summary
    assert "| Q4 share of tokens, mean over steps | 0.367% |" in summary  # 11 / 3000
    # demo, entropy mean over steps: 0.3725 +- 12.706 * sd(0.42, 0.325) / sqrt(2) = 0.60
    assert "| entropy, mean over steps | 0.372 ± 0.6 |" in summary
    assert "## Definitions" in summary and math.isfinite(len(summary))


@pytest.mark.slow
def test_a_recipes_file_log_is_what_the_report_reads(tmp_path, monkeypatch):
    """The recipe's logger settings, handed to verl's own Tracking/FileLogger as the trainer gets them through Ray's
    runtime env, leave a log that the report finds from the run's output folder."""
    from verl.utils.tracking import Tracking

    from tests.test_recipes import recorded_argv

    output_dir = tmp_path / "run"
    argv = recorded_argv("paper/run_qwen3_4b_base_abc.sh", tmp_path, env={"OUTPUT_DIR": str(output_dir)})
    overrides = dict(arg.lstrip("+").split("=", 1) for arg in argv)
    assert "file" in json.loads(overrides["trainer.logger"])
    assert overrides["trainer.default_local_dir"] == str(output_dir)
    monkeypatch.setenv(
        "VERL_FILE_LOGGER_ROOT", overrides["ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_ROOT"]
    )
    tracker = Tracking(
        overrides["trainer.project_name"], overrides["trainer.experiment_name"], default_backend=["file"]
    )
    for step, entropy in ((1, 0.5), (2, 0.4)):
        tracker.log(
            {
                ENTROPY: np.float32(entropy),
                QUADRANTS[3]: 0.001,
                "actor/abc_clip_tokens_q4": 2.0,
                "actor/abc_valid_tokens": 1000.0,
            },
            step=step,
        )
    tracker.finish()
    run = only(load_run_argument(str(output_dir)))
    assert run.label == "run" and run.seeds[0][ENTROPY].y == pytest.approx([0.5, 0.4])
    assert run.seeds[0][QUADRANTS[3]].y == pytest.approx([0.002, 0.002])  # from the counts: 2 / 1000
