"""Checkpoint sweeps (`python -m abc_grpo_verl.eval --run DIR`): which checkpoints of a verl run are evaluated, that a
sweep killed midway and resumed writes exactly the files of an uninterrupted one, what sweep.jsonl holds (checked
against the per-sample files), and the merged copies of FSDP checkpoints. The runs are toy verl checkpoint folders
holding tiny random Qwen3 models (one saved with its full Hugging Face model, one as FSDP shards only).
"""

import json
from collections import defaultdict
from pathlib import Path

import pytest

from abc_grpo_verl import eval as eval_cli
from abc_grpo_verl import report, report_readers
from abc_grpo_verl.evaluation.backends import HFBackend
from abc_grpo_verl.evaluation.checkpoint import ModelError
from abc_grpo_verl.evaluation.sweep import find_checkpoints, parse_runs
from tests.test_eval import (  # noqa: F401  (one_torch_thread is an autouse fixture)
    BENCHMARKS,
    FIXTURES,
    make_fsdp_checkpoint,
    one_torch_thread,
    read_jsonl,
    save_tiny_model,
)


def verl_hf_checkpoint(step_dir: Path, seed: int) -> Path:
    """A checkpoint as verl writes it with checkpoint.save_contents including hf_model: the full model in
    actor/huggingface/ (the shard beside it is a stand-in; the evaluation does not read shards then)."""
    actor = step_dir / "actor"
    save_tiny_model(actor / "huggingface", seed=seed)
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 2, "world_size": 1}))
    (actor / "model_world_size_1_rank_0.pt").write_bytes(b"")
    return step_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run "abc": steps 2 and 10 with their HF models (step 12 still being written); run "grpo": step 5 as FSDP
    shards, which the sweep merges with verl's merger."""
    root = tmp_path_factory.mktemp("runs")
    for seed, step in enumerate((2, 10, 12)):
        verl_hf_checkpoint(root / "abc" / f"global_step_{step}", seed=seed)
    (root / "abc" / "latest_checkpointed_iteration.txt").write_text("10")
    hf = save_tiny_model(root / "grpo_hf", seed=7)
    make_fsdp_checkpoint(hf, root / "grpo" / "global_step_5")
    return root


def sweep(output_dir, runs_root, *extra):
    argv = ["--run", f"abc={runs_root / 'abc'}", "--run", str(runs_root / "grpo"), "--benchmarks",
            ",".join(BENCHMARKS), "--k", "4", "--max-tokens", "5", "--data-dir", str(FIXTURES), "--output-dir",
            str(output_dir), "--backend", "hf", "--device", "cpu", "--batch-size", "3", "--ci-resamples", "200",
            *extra]
    return eval_cli.main(argv)


def test_checkpoints_of_a_run_are_found_in_step_order(tmp_path, capsys):
    for step in (1, 2, 9, 10, 11):
        verl_hf_checkpoint(tmp_path / "run" / f"global_step_{step}", seed=0)
    (tmp_path / "run" / "global_step_x").mkdir()  # not a step: ignored
    found = find_checkpoints("r", tmp_path / "run", every=1)
    assert [c.step for c in found] == [1, 2, 9, 10, 11]  # numeric order, not 10 < 2
    assert [c.spec.label for c in found][:2] == ["r-global_step_1", "r-global_step_2"]
    assert {c.spec.kind for c in found} == {"verl_hf"}
    assert found[0].spec.location == str((tmp_path / "run" / "global_step_1" / "actor" / "huggingface").resolve())
    assert [c.step for c in find_checkpoints("r", tmp_path / "run", every=2)] == [1, 9, 11]
    assert [c.step for c in find_checkpoints("r", tmp_path / "run", every=3)] == [1, 10, 11]  # and always the last
    (tmp_path / "run" / "latest_checkpointed_iteration.txt").write_text("9\n")
    assert [c.step for c in find_checkpoints("r", tmp_path / "run", every=1)] == [1, 2, 9]
    assert "skipping [10, 11], past the last complete save" in capsys.readouterr().out
    (tmp_path / "run" / "latest_checkpointed_iteration.txt").write_text("")
    with pytest.raises(ModelError, match="latest_checkpointed_iteration.txt should hold the last saved step"):
        find_checkpoints("r", tmp_path / "run", every=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"--run .*empty: no global_step_N directories"):
        find_checkpoints("e", tmp_path / "empty", every=1)
    with pytest.raises(ModelError, match=r"--run .*nope: no such directory"):
        parse_runs([str(tmp_path / "nope")])
    assert parse_runs([str(tmp_path / "run"), f"b={tmp_path / 'run'}"]) == {"run": tmp_path / "run",
                                                                            "b": tmp_path / "run"}
    with pytest.raises(ModelError, match="several runs are named 'run'"):
        parse_runs([str(tmp_path / "run"), str(tmp_path / "run")])
    (tmp_path / "run" / "global_step_11" / "actor" / "huggingface" / "model.safetensors").unlink()
    (tmp_path / "run" / "global_step_11" / "actor" / "model_world_size_1_rank_0.pt").unlink()
    (tmp_path / "run" / "latest_checkpointed_iteration.txt").unlink()
    with pytest.raises(ModelError, match=r"verl checkpoint .*global_step_11/actor: model shard .* is missing"):
        find_checkpoints("r", tmp_path / "run", every=1)


def test_the_base_model_linked_as_step_0_starts_the_curve(tmp_path):
    """docs/evaluation.md: a link global_step_0 -> the base model puts the untrained model at step 0."""
    verl_hf_checkpoint(tmp_path / "run" / "global_step_5", seed=0)
    (tmp_path / "run" / "latest_checkpointed_iteration.txt").write_text("5")
    base = save_tiny_model(tmp_path / "Qwen3-Base", seed=1)
    (tmp_path / "run" / "global_step_0").symlink_to(base, target_is_directory=True)
    found = find_checkpoints("r", tmp_path / "run", every=1)
    assert [(c.step, c.spec.kind) for c in found] == [(0, "hf"), (5, "verl_hf")]
    assert found[0].spec.location == str(base.resolve())


def test_sweep_flags(tmp_path, capsys):
    common = ["--output-dir", str(tmp_path), "--benchmarks", "toy_add", "--data-dir", str(FIXTURES)]
    assert eval_cli.main(["--model", str(tmp_path), "--every", "2", *common]) == 2
    assert "--every only applies to --run" in capsys.readouterr().err
    assert eval_cli.main(["--model", str(tmp_path), "--keep-merged", *common]) == 2
    assert "--keep-merged only applies to --run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        eval_cli.main(["--model", str(tmp_path), "--run", str(tmp_path), *common])
    assert "argument --run: not allowed with argument --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        eval_cli.main(common)
    assert "one of the arguments --model --run is required" in capsys.readouterr().err


def recompute_rows(output_dir, label, k):
    """{benchmark: (Avg@k, Pass@k)} in percent, straight from the per-sample files."""
    scores = {}
    for bench in BENCHMARKS:
        rows = defaultdict(dict)
        for record in read_jsonl(output_dir / "samples" / label / f"{bench}.jsonl"):
            rows[record["id"]][record["sample"]] = record["correct"]
        scores[bench] = (100 * sum(sum(r[j] for j in range(k)) for r in rows.values()) / (k * len(rows)),
                         100 * sum(any(r[j] for j in range(k)) for r in rows.values()) / len(rows))
    return scores


def test_a_killed_sweep_resumed_writes_what_an_uninterrupted_one_does(runs, tmp_path, monkeypatch, capsys):
    reference = tmp_path / "reference"
    assert sweep(reference, runs) == 0
    assert not (reference / "merged" / "grpo-global_step_5").exists()  # deleted once its samples were complete
    assert "skipping [12], past the last complete save" in capsys.readouterr().out

    out = tmp_path / "interrupted"
    original, calls = HFBackend.generate, []

    def killed_on_the_tenth_batch(self, prompts, seeds, spec):
        calls.append(len(prompts))
        if len(calls) == 10:  # a checkpoint takes 4 + 3 batches: this is inside abc's second checkpoint
            raise KeyboardInterrupt
        return original(self, prompts, seeds, spec)

    monkeypatch.setattr(HFBackend, "generate", killed_on_the_tenth_batch)
    with pytest.raises(KeyboardInterrupt):
        sweep(out, runs)
    assert len(read_jsonl(out / "sweep.jsonl")) == len(BENCHMARKS) + 1  # the first checkpoint's lines
    monkeypatch.setattr(HFBackend, "generate", original)
    assert sweep(out, runs) == 0
    for name in ("sweep.jsonl", "sweep.md"):
        assert (out / name).read_text() == (reference / name).read_text(), name
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = read_jsonl(out / "sweep.jsonl")
    assert [(r["run"], r["step"], r["benchmark"]) for r in rows] == [
        (run, step, bench) for run, step in (("abc", 2), ("abc", 10), ("grpo", 5))
        for bench in (*BENCHMARKS, "Average")
    ]
    for row in rows:
        assert row["k"] == 4 and row["ci_level"] == 0.95
        assert row["label"] == f"{row['run']}-global_step_{row['step']}"
        if row["benchmark"] != "Average":
            avg, passk = recompute_rows(out, row["label"], 4)[row["benchmark"]]
            assert (row["avg@k"], row["pass@k"]) == (pytest.approx(avg), pytest.approx(passk))
        for stat in ("avg@k", "pass@k", "cons@k"):
            low, high = row["ci"][stat]
            assert 0 <= low <= high <= 100
    # the checkpoints differ (different random weights), so the lines are not all the same
    assert len({(r["avg@k"], r["pass@k"]) for r in rows if r["benchmark"] == "toy_add"}) > 1

    # A rerun finds every sample on disk: no model is loaded, nothing is merged, the files are unchanged.
    monkeypatch.setattr(HFBackend, "__init__", lambda *a, **k: pytest.fail("a model was loaded"))
    assert sweep(out, runs, "--every", "1") == 0
    assert (out / "sweep.jsonl").read_text() == (reference / "sweep.jsonl").read_text()

    # The training-dynamics report reads the sweep's folder: one run per swept run, its scores over steps.
    read = {run.label: run.seeds[0] for run in report_readers.load_run_argument(f"sweep={out}")}
    assert sorted(read) == ["sweep: abc", "sweep: grpo"]
    passk = read["sweep: abc"]["val-core/toy_add/pass@4 (%)"]
    assert passk.x.tolist() == [2, 10]
    assert passk.y.tolist() == [r["pass@k"] for r in rows if r["run"] == "abc" and r["benchmark"] == "toy_add"]
    assert report.main([f"sweep={out}", "--output-dir", str(tmp_path / "report")]) == 0


def test_keep_merged_keeps_the_merged_checkpoint(runs, tmp_path):
    out = tmp_path / "sweep"
    argv = ["--run", str(runs / "grpo"), "--benchmarks", "toy_mul", "--k", "1", "--max-tokens", "2", "--data-dir",
            str(FIXTURES), "--output-dir", str(out), "--backend", "hf", "--device", "cpu", "--keep-merged"]
    assert eval_cli.main(argv) == 0
    assert (out / "merged" / "grpo-global_step_5" / "config.json").is_file()
    assert [r["benchmark"] for r in read_jsonl(out / "sweep.jsonl")] == ["toy_mul"]  # one benchmark: no Average
