"""The embedded demo, `python -m abc_grpo_verl.demo --quick`: its outputs, its honesty and its determinism.

Both runs are subprocesses, exactly as a user starts the demo; the demo sets torch's thread count and
deterministic mode for its own process, which must not leak into the rest of the suite.
"""

import json
import math
import subprocess
import sys

import pytest

from abc_grpo_verl.demo import METHODS, PROMPT_LEN, QUICK, DemoConfig, main

ABC_QUADRANT_KEYS = [f"actor/abc_clipfrac_q{q}" for q in range(1, 5)]


def run_quick_demo(output_dir):
    result = subprocess.run(
        [sys.executable, "-m", "abc_grpo_verl.demo", "--quick", "--seed", "0", "--output-dir", str(output_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    )
    # output to a pipe, not a terminal: no progress bars flooding the log
    assert "RL steps" not in result.stderr and "warm-start" not in result.stderr
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("demo")
    return output_dir, run_quick_demo(output_dir)


def by_method(records):
    runs = {}
    for record in records:
        runs.setdefault(record["method"], []).append(record)
    return runs


def test_quick_run_writes_every_output(quick_run):
    output_dir, records = quick_run
    assert (output_dir / "dynamics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (output_dir / "summary.md").read_text()
    assert "## What this run showed" in summary
    assert all(method.name in by_method(records) for method in METHODS)
    for method_records in by_method(records).values():
        assert [r["step"] for r in method_records] == list(range(QUICK["steps"]))


def test_every_metric_is_finite(quick_run):
    _, records = quick_run
    for record in records:
        numbers = {k: v for k, v in record.items() if isinstance(v, float)} | record["loss_metrics"]
        assert numbers and all(math.isfinite(v) for v in numbers.values()), record
        assert 0.0 <= record["reward"] <= 1.0 and record["entropy"] > 0.0


def test_methods_share_start_and_data(quick_run):
    """Same warm-started weights, same prompts, same sampling noise: step 0 rollouts are identical."""
    _, records = quick_run
    first = [r for r in records if r["step"] == 0]
    assert len({(r["reward"], r["entropy"], r["pass@1"]) for r in first}) == 1


def test_loss_metrics_prove_which_loss_ran(quick_run):
    _, records = quick_run
    runs = by_method(records)
    for method in METHODS:
        for record in runs[method.name]:
            assert record["loss_mode"] == method.loss_mode and record["clip_ratio_c"] == method.clip_ratio_c
            has_abc_metrics = set(ABC_QUADRANT_KEYS) <= set(record["loss_metrics"])
            assert has_abc_metrics == (method.loss_mode == "abc_grpo"), (method.name, record["loss_metrics"])
    for record in runs["abc_grpo"]:
        # the demo's own quadrant diagnostic agrees with what the abc_grpo loss reports about itself
        for q, key in enumerate(ABC_QUADRANT_KEYS, start=1):
            assert record[f"quadrant_q{q}"] == pytest.approx(record["loss_metrics"][key], abs=1e-6)
    # vanilla's dual-clip counter fires for A<0 and r > clip_ratio_c: with c = 1.2 that is exactly the demo's Q4
    # (A<0, r > 1 + 0.2); with verl's default c = 3 it can only be a part of it
    for record in runs["dual_clip"]:
        assert record["loss_metrics"]["actor/pg_clipfrac_lower"] == pytest.approx(record["quadrant_q4"], abs=1e-6)
    for record in runs["grpo"]:
        assert record["loss_metrics"]["actor/pg_clipfrac_lower"] <= record["quadrant_q4"] + 1e-6
    assert any(r["quadrant_q4"] > r["loss_metrics"]["actor/pg_clipfrac_lower"] for r in runs["grpo"])


def test_clipping_happened(quick_run):
    """Several optimizer steps per rollout move the ratio out of the band, so the methods can differ at all."""
    _, records = quick_run
    runs = by_method(records)
    for method_records in runs.values():
        assert any(sum(r[f"quadrant_q{q}"] for q in range(1, 5)) > 0 for r in method_records)
        assert any(r["pg_clipfrac"] > 0 for r in method_records)
    assert any(r["loss_metrics"][key] > 0 for r in runs["abc_grpo"] for key in ABC_QUADRANT_KEYS)


def test_same_seed_gives_identical_metrics(quick_run, tmp_path):
    _, records = quick_run
    assert run_quick_demo(tmp_path) == records


def test_rollout_and_band_counts_add_up(quick_run):
    """The restoring-force counts against independent counts: the rollout's size, and the loss's own raw counts."""
    _, records = quick_run
    cfg = DemoConfig()
    samples = cfg.prompts_per_step * cfg.rollout_n
    updates = cfg.mini_batches * cfg.ppo_epochs
    for record in records:
        response_tokens = record["num_tokens"] - samples * PROMPT_LEN
        assert record["response_length"] * samples == pytest.approx(response_tokens)
        # every response token of the rollout is measured after each optimizer step
        assert record["band_token_steps"] == updates * response_tokens
        for q in range(1, 5):
            assert 0 <= record[f"band_back_q{q}"] <= record[f"band_seen_out_q{q}"]
            assert 0 <= record[f"band_out_q{q}"] <= record["band_token_steps"]
        assert 0.0 <= record["truncated"] <= 1.0 and math.isfinite(record["grad_norm"]) and record["grad_norm"] > 0
    for record in by_method(records)["abc_grpo"]:
        # out of band when its own update came = what the abc_grpo loss counted as clipped (its per-update mean x 4)
        for q in range(1, 5):
            counted = record["loss_metrics"][f"actor/abc_clip_tokens_q{q}"] * updates
            assert record[f"band_seen_out_q{q}"] == pytest.approx(counted)
    assert any(r["band_out_q4"] > 0 for r in records)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--mini-batches", "3"], "--mini-batches must be a divisor of 16, got 3"),
        (["--ppo-epochs", "0"], "--ppo-epochs must be >= 1, got 0"),
        (["--warm-target", "1.5"], "--warm-target must be in (0, 1], got 1.5"),
        (["--lr-warmup-steps", "-1"], "--lr-warmup-steps must be >= 0, got -1"),
        (["--steps", "0"], "--steps must be >= 1, got 0"),
        # these failed only after seconds of work (a Hugging Face or sampling traceback, a ZeroDivisionError), or
        # trained as a normal run (a 0-layer model, seed 1 twice with every record duplicated)
        (["--layers", "0"], "--layers must be >= 1, got 0"),
        (["--layers", "-1"], "--layers must be >= 1, got -1"),
        (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
        (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
        (["--hidden", "0"], "--hidden must be a positive multiple of 8, got 0"),
        (["--hidden", "12"], "--hidden must be a positive multiple of 8, got 12"),
        (["--seeds", "1", "1"], "--seeds lists [1] more than once; each seed is one run of every method"),
        (["--seeds", "2", "1", "2", "1", "3"], "--seeds lists [1, 2] more than once"),
    ],
)
def test_bad_flags_are_rejected_before_any_work(capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        main(flags)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_an_output_dir_that_is_a_file_is_rejected_before_any_work(capsys, tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["--output-dir", str(tmp_path / "taken")])
    assert exit_info.value.code == 2
    assert f"--output-dir {tmp_path / 'taken'} is not a folder: {tmp_path / 'taken'} is an existing file" in (
        capsys.readouterr().err)


LEFTOVER = ("left by a demo stopped before it finished (metrics.partial.jsonl: the steps it finished; a finished "
            "run's metrics.jsonl, summary.md, dynamics.png there are untouched)")


@pytest.mark.parametrize("leftovers", [["metrics.partial.jsonl"], ["summary.partial.md", "dynamics.partial.png"]])
def test_a_folder_holding_a_stopped_runs_files_is_refused_naming_them(capsys, tmp_path, leftovers):
    for name in leftovers:
        (tmp_path / name).write_text("{}\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--quick", "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert (f"--output-dir {tmp_path} holds {', '.join(leftovers)}, {LEFTOVER}: move or delete {', '.join(leftovers)} "
            "to run here again, or give another --output-dir") in capsys.readouterr().err
    assert all((tmp_path / name).read_text() == "{}\n" for name in leftovers)


def test_a_finished_run_leaves_no_partial_file(quick_run):
    output_dir, _ = quick_run
    assert sorted(path.name for path in output_dir.iterdir()) == ["dynamics.png", "metrics.jsonl", "summary.md"]


@pytest.mark.slow
def test_a_killed_rerun_keeps_the_steps_it_finished_and_leaves_the_finished_run_intact(tmp_path, capsys):
    """Results were written only at the end (a demo killed after 45 s left an empty folder), then written in place,
    which destroyed a finished run's files as soon as a rerun into its folder started. Now each step's record goes to
    metrics.partial.jsonl, which takes the name metrics.jsonl only once the run has finished."""
    import signal
    import time

    output_dir = tmp_path / "demo"
    output_dir.mkdir()
    finished = {"metrics.jsonl": "the finished run\n", "summary.md": "its summary\n", "dynamics.png": "its plot"}
    for name, text in finished.items():
        (output_dir / name).write_text(text)
    demo = subprocess.Popen([sys.executable, "-m", "abc_grpo_verl.demo", "--quick", "--seed", "0", "--output-dir",
                             str(output_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = output_dir / "metrics.partial.jsonl"
    try:
        deadline = time.monotonic() + 170
        while time.monotonic() < deadline and demo.poll() is None:
            if partial.exists() and len(partial.read_text().splitlines()) >= 2:
                break
            time.sleep(0.2)
        assert demo.poll() is None, "the demo ended before it could be killed"
        demo.send_signal(signal.SIGKILL)
    finally:
        demo.kill()
        demo.wait()
    records = [json.loads(line) for line in partial.read_text().splitlines()]  # whole lines only
    assert len(records) >= 2 and [r["step"] for r in records[:2]] == [0, 1]
    assert records[0]["method"] == METHODS[0].name
    assert {name: (output_dir / name).read_text() for name in finished} == finished
    with pytest.raises(SystemExit) as exit_info:
        main(["--quick", "--output-dir", str(output_dir)])
    assert exit_info.value.code == 2
    assert f"--output-dir {output_dir} holds metrics.partial.jsonl, {LEFTOVER}" in capsys.readouterr().err
