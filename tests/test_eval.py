"""Evaluation (`python -m abc_grpo_verl.eval`): the Pass@k estimators, an end-to-end run with the Hugging Face
backend on a tiny random Qwen3 with an offline word-level tokenizer, resuming, data and checkpoint handling
(including a real verl FSDP merge on CPU), and the vLLM wiring against a stand-in module (vllm is never imported).

The tiny model's vocabulary holds the tokens ``\\boxed{1}``, ``\\boxed{2}`` and ``\\boxed{3}`` and the fixture answers
are 1, 2 or 3, so random sampling gets some problems right and some wrong.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import types
from collections import Counter, defaultdict
from fractions import Fraction
from math import comb
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import HfApi

from abc_grpo_verl import eval as eval_cli
from abc_grpo_verl.evaluation import backends
from abc_grpo_verl.evaluation.backends import (
    BackendError,
    HFBackend,
    PerSampleSampling,
    SamplingSpec,
    VLLMBackend,
    choose_backend,
)
from abc_grpo_verl.evaluation.checkpoint import (
    ModelError,
    ModelSpec,
    check_hub_models,
    detect_model,
    materialize,
    parse_model_specs,
)
from abc_grpo_verl.evaluation.data import (
    CHATML,
    PACKAGED_DIR,
    DataError,
    Problem,
    check_record,
    load_benchmark,
    render_prompt,
)
from abc_grpo_verl.evaluation.metrics import (
    average_metrics,
    benchmark_metrics,
    k_grid,
    pass_at_k_first,
    pass_at_k_unbiased,
)
from abc_grpo_verl.evaluation.samples import SampleStore, StoreError, write_atomic
from abc_grpo_verl.problems import INSTRUCTION
from abc_grpo_verl.reward import compute_score

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
BENCHMARKS = ("toy_add", "toy_mul")
REPO = Path(__file__).resolve().parents[1]
WORDS = ["[UNK]", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "\\boxed{1}", "\\boxed{2}", "\\boxed{3}", "so", "is"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# What Qwen3's template does with enable_thinking: an empty think block after the generation prompt when it is false.
THINKING_TEMPLATE = CHAT_TEMPLATE + (
    "{% if add_generation_prompt and enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% endif %}"
)


# ---------------------------------------------------------------------------------------------- estimators


def exact_unbiased(n, c, k):
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (3, 1, 2, 2 / 3),  # 1 - C(2,2)/C(3,2) = 1 - 1/3
        (5, 2, 1, 0.4),  # pass@1 = c/n
        (10, 0, 3, 0.0),  # no correct sample
        (10, 10, 1, 1.0),  # all correct
        (4, 4, 4, 1.0),  # k = n, all correct
        (4, 1, 4, 1.0),  # k = n: solved iff any sample is correct
        (4, 0, 4, 0.0),
        (8, 6, 3, 1.0),  # n - c < k: every 3-subset holds a correct sample
        (64, 1, 32, 0.5),  # 1 - C(63,32)/C(64,32) = 1 - 32/64
    ],
)
def test_unbiased_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k_unbiased(n, c, k) == pytest.approx(expected, abs=1e-12)
    assert pass_at_k_unbiased(n, c, k) == pytest.approx(exact_unbiased(n, c, k), abs=1e-12)


def test_unbiased_pass_at_k_is_stable_where_binomials_overflow():
    # C(2000, 1000) ~ 2e600 overflows a float; the product form does not.
    for c in (1, 3, 50, 1000):
        assert pass_at_k_unbiased(2000, c, 1000) == pytest.approx(exact_unbiased(2000, c, 1000), abs=1e-12)
    assert all(pass_at_k_unbiased(64, c, 1) == pytest.approx(c / 64) for c in range(65))


@pytest.mark.parametrize("n, c, k", [(4, 1, 5), (4, 1, 0), (4, 5, 1), (4, -1, 1)])
def test_unbiased_pass_at_k_rejects_out_of_range(n, c, k):
    with pytest.raises(ValueError, match="must be in"):
        pass_at_k_unbiased(n, c, k)


def test_first_k_pass_at_k():
    row = [False, True, False, False]
    assert [pass_at_k_first(row, k) for k in (1, 2, 3, 4)] == [0.0, 1.0, 1.0, 1.0]
    assert pass_at_k_first([False] * 3, 3) == 0.0
    with pytest.raises(ValueError, match=r"\[1, 4\]"):
        pass_at_k_first(row, 5)


def test_k_grid():
    assert k_grid(64) == [1, 2, 4, 8, 16, 32, 64]
    assert k_grid(48) == [1, 2, 4, 8, 16, 32, 48]
    assert k_grid(1) == [1]
    with pytest.raises(ValueError):
        k_grid(0)


def test_benchmark_metrics_hand_computed():
    correct = [[True, False, False, False], [False] * 4, [True] * 4, [False, False, False, True]]
    m = benchmark_metrics(correct, 4, greedy=[True, False, True, False])
    assert m["avg@k"] == pytest.approx(100 * (0.25 + 0 + 1 + 0.25) / 4)
    assert m["pass@k_first"] == pytest.approx({1: 50.0, 2: 50.0, 4: 75.0})
    # k=2: problems 0 and 3 have 1 - C(3,2)/C(4,2) = 0.5 each
    assert m["pass@k_unbiased"] == pytest.approx({1: m["avg@k"], 2: 100 * (0.5 + 0 + 1 + 0.5) / 4, 4: 75.0})
    assert m["greedy_accuracy"] == 50.0
    # extra samples beyond k are ignored; missing ones are an error
    assert benchmark_metrics([row + [True] for row in correct], 4) == benchmark_metrics(correct, 4)
    with pytest.raises(ValueError, match="fewer than k=4"):
        benchmark_metrics([[True] * 3], 4)
    avg = average_metrics([m, benchmark_metrics([[True] * 4], 4)])
    assert avg["avg@k"] == pytest.approx((m["avg@k"] + 100) / 2)  # plain mean over benchmarks, as the paper
    assert avg["greedy_accuracy"] is None


# ---------------------------------------------------------------------------------------------- tiny model


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # The tiny model's matmuls are far faster single-threaded on a shared CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_tokenizer(chat_template=CHAT_TEMPLATE):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece()  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def save_tiny_model(path, seed=0):
    """A one-layer random Qwen3 over WORDS, and its tokenizer, saved in Hugging Face format at `path`."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, head_dim=8, max_position_embeddings=256, tie_word_embeddings=True,
        bos_token_id=1, eos_token_id=1, pad_token_id=1,
    )
    torch.manual_seed(seed)
    Qwen3ForCausalLM(config).save_pretrained(path)
    make_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny_qwen3"))


def run_eval(output_dir, *extra, models=None, k=4):
    argv = []
    for model in models:
        argv += ["--model", str(model)]
    argv += [
        "--benchmarks", ",".join(BENCHMARKS), "--k", str(k), "--max-tokens", "5", "--data-dir", str(FIXTURES),
        "--output-dir", str(output_dir), "--backend", "hf", "--device", "cpu", "--batch-size", "3", *extra,
    ]
    return eval_cli.main(argv)


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def majority_is_correct(records):
    """cons@k of one problem, written out: the most frequent non-empty answer (the earliest of a tie) is correct."""
    counts = Counter(r["pred"] for r in records if r["pred"])
    if not counts:
        return False
    top = max(counts.values())
    winner = next(r for r in records if r["pred"] and counts[r["pred"]] == top)
    return winner["correct"]


def recompute(samples, k):
    """Avg@k, both Pass@k and cons@k from results.json's per-sample records, written independently of metrics.py."""
    rows = defaultdict(dict)
    for record in samples:
        rows[record["id"]][record["sample"]] = record
    assert all(sorted(row) == list(range(k)) for row in rows.values())
    table = [[row[j]["correct"] for j in range(k)] for row in rows.values()]
    n = len(table)
    ks = [j for j in (1, 2, 4, 8, 16, 32, 64) if j <= k]
    return {
        "avg@k": 100 * sum(sum(row) for row in table) / (n * k),
        "pass@k_first": {str(j): 100 * sum(any(row[:j]) for row in table) / n for j in ks},
        "pass@k_unbiased": {str(j): 100 * sum(exact_unbiased(k, sum(row), j) for row in table) / n for j in ks},
        "cons@k": 100 * sum(majority_is_correct([row[j] for j in range(k)]) for row in rows.values()) / n,
    }


def test_end_to_end_hf_backend_two_models(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    assert run_eval(out, "--greedy", models=[f"grpo={tiny_model_dir}", f"abc={tiny_model_dir}"]) == 0
    printed = capsys.readouterr().out
    assert "[eval] backend: hf (--backend hf)" in printed
    for name in ("results.json", "results.md", "passk.png"):
        assert (out / name).is_file(), name
    assert (out / "passk.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    results = json.loads((out / "results.json").read_text())
    assert list(results["models"]) == ["grpo", "abc"]
    assert results["protocol"]["k"] == 4
    assert (results["protocol"]["temperature"], results["protocol"]["top_p"], results["protocol"]["top_k"]) == (
        0.6, 0.95, 20)
    all_correct = []
    for label, model in results["models"].items():
        assert model["prompt"]["chat_template_applied"] is True
        assert model["prompt"]["example"] == CHATML.format(content=f"{INSTRUCTION} <problem>")
        for bench in BENCHMARKS:
            problems = load_benchmark(bench, FIXTURES).problems
            samples = model["samples"][bench]
            assert "completion" not in samples[0]  # results.json is text-free
            assert [(s["id"], s["sample"]) for s in samples] == [(p.id, j) for p in problems for j in range(4)]
            metrics = model["metrics"][bench]
            expected = recompute(samples, 4)
            assert metrics["avg@k"] == pytest.approx(expected["avg@k"])
            assert metrics["pass@k_first"] == pytest.approx(expected["pass@k_first"])
            assert metrics["pass@k_unbiased"] == pytest.approx(expected["pass@k_unbiased"])
            assert metrics["cons@k"] == pytest.approx(expected["cons@k"])
            for stat in ("avg@k", "pass@k", "cons@k"):
                low, high = metrics["ci"][stat]
                assert 0 <= low <= high <= 100
            greedy = model["greedy"][bench]
            assert metrics["greedy_accuracy"] == pytest.approx(100 * sum(g["correct"] for g in greedy) / len(problems))
            # Graded by the training reward itself: regrade every stored completion.
            answers = {p.id: p.answer for p in problems}
            for line in read_jsonl(out / "samples" / label / f"{bench}.jsonl"):
                score = compute_score(bench, line["completion"], answers[line["id"]])
                assert (score["acc"], score["pred"]) == (line["correct"], line["pred"])
                all_correct.append(line["correct"])
        average = model["metrics"]["Average"]
        assert average["avg@k"] == pytest.approx(sum(model["metrics"][b]["avg@k"] for b in BENCHMARKS) / 2)
    assert any(all_correct) and not all(all_correct)  # the fixture exercises both outcomes
    # Sampling depends on the seed and the problem, not on the label: both models drew the same samples.
    assert results["models"]["grpo"]["samples"] == results["models"]["abc"]["samples"]

    table = (out / "results.md").read_text()
    avg = results["models"]["grpo"]["metrics"]["toy_add"]["avg@k"]
    assert f"| toy_add | grpo | {avg:.1f} |" in table
    assert "Gain abc vs grpo" in table and "| Avg@4 | P@1 | P@2 | P@4 | Greedy |" in table
    # Intervals and paired comparisons: same samples for both labels, so every difference is exactly 0.
    assert results["uncertainty"] == {"method": "percentile bootstrap over problems",
                                      "unit": "problem, its k samples resampled together",
                                      "average": "benchmarks resampled independently (stratified)",
                                      "level": 0.95, "resamples": 10000, "seed": 0}
    assert len(results["comparisons"]) == 3 * 3  # (toy_add, toy_mul, Average) x (Avg@k, Pass@k, cons@k)
    assert {(c["base"], c["other"], c["difference"], tuple(c["ci"]), c["verdict"]) for c in results["comparisons"]} == {
        ("grpo", "abc", 0.0, (0.0, 0.0), "no clear difference (95% CI includes 0)")}
    assert "## How sure: 95% intervals" in table and "| toy_add | abc - grpo | Avg@4 | +0.0 | [+0.0, +0.0] |" in table
    assert results["benchmarks"]["toy_add"] == {"n_problems": 3, "file": str(FIXTURES / "toy_add.jsonl"),
                                                "packaged": False, "sha256": load_benchmark("toy_add", FIXTURES).sha256}


def test_resume_continues_without_duplicates_and_gives_the_same_result(tiny_model_dir, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    assert run_eval(reference, models=[f"tiny={tiny_model_dir}"]) == 0

    out = tmp_path / "interrupted"
    original = HFBackend.generate
    calls = []

    def interrupted_after_three_batches(self, prompts, seeds, spec):
        if len(calls) == 3:
            raise KeyboardInterrupt  # what Ctrl-C or a scheduler's kill leaves behind
        calls.append(len(prompts))
        return original(self, prompts, seeds, spec)

    monkeypatch.setattr(HFBackend, "generate", interrupted_after_three_batches)
    with pytest.raises(KeyboardInterrupt):
        run_eval(out, models=[f"tiny={tiny_model_dir}"])
    partial = out / "samples" / "tiny" / "toy_add.jsonl"
    assert len(read_jsonl(partial)) == 9  # three batches of 3 out of 3 problems x 4 samples
    with partial.open("ab") as f:
        f.write('{"id": "add-3", "pred": "é'.encode()[:-1])  # a line cut short by the kill, mid-character

    calls.clear()

    def counting(self, prompts, seeds, spec):
        calls.append(len(prompts))
        return original(self, prompts, seeds, spec)

    monkeypatch.setattr(HFBackend, "generate", counting)
    # Resumed with another batch size: every sample draws from its own seed, whatever else shares its batch.
    assert run_eval(out, "--batch-size", "2", models=[f"tiny={tiny_model_dir}"]) == 0
    assert sum(calls) == (3 + 2) * 4 - 9  # only the missing samples were generated
    assert max(calls) == 2

    for bench in BENCHMARKS:
        lines = read_jsonl(out / "samples" / "tiny" / f"{bench}.jsonl")
        keys = [(line["id"], line["sample"]) for line in lines]
        assert len(keys) == len(set(keys)) == len(load_benchmark(bench, FIXTURES).problems) * 4
        expected = read_jsonl(reference / "samples" / "tiny" / f"{bench}.jsonl")
        assert sorted(map(json.dumps, lines)) == sorted(map(json.dumps, expected))  # same samples, same texts
    resumed = json.loads((out / "results.json").read_text())
    uninterrupted = json.loads((reference / "results.json").read_text())
    assert resumed["models"]["tiny"]["metrics"] == uninterrupted["models"]["tiny"]["metrics"]
    assert resumed["models"]["tiny"]["samples"] == uninterrupted["models"]["tiny"]["samples"]

    # Everything is on disk: a rerun rebuilds the reports without loading the model.
    def no_model(*args, **kwargs):
        raise AssertionError("the model should not be loaded")

    monkeypatch.setattr(HFBackend, "__init__", no_model)
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"]) == 0
    assert json.loads((out / "results.json").read_text())["models"] == resumed["models"]


def test_rerun_with_other_settings_is_refused(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=1) == 0
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=2) == 0  # a larger k only adds samples
    assert len(read_jsonl(out / "samples" / "tiny" / "toy_add.jsonl")) == 3 * 2
    assert run_eval(out, "--seed", "7", models=[f"tiny={tiny_model_dir}"], k=1) == 2
    assert "seed: 42 there, 7 now" in capsys.readouterr().err
    assert run_eval(out, "--enable-thinking", "false", models=[f"tiny={tiny_model_dir}"], k=2) == 2
    assert "enable_thinking: 'auto' there, 'false' now" in capsys.readouterr().err
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=2) == 0  # nothing was written by the refused runs
    # A protocol.json from before --enable-thinking existed was made with "auto": it still resumes, and only as auto.
    protocol_file = out / "samples" / "tiny" / "protocol.json"
    protocol = json.loads(protocol_file.read_text())
    assert protocol.pop("enable_thinking") == "auto"
    protocol_file.write_text(json.dumps(protocol))
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=2) == 0
    assert run_eval(out, "--enable-thinking", "true", models=[f"tiny={tiny_model_dir}"], k=2) == 2


def test_a_rerun_with_another_seed_and_no_protocol_file_is_refused(tiny_model_dir, tmp_path, capsys):
    """With protocol.json deleted, --seed 7 reused the seed-42 samples and recorded seed 7 in results.json; each
    sample record holds its seed, which is now checked."""
    out = tmp_path / "eval"
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=1) == 0
    (out / "samples" / "tiny" / "protocol.json").unlink()
    capsys.readouterr()
    assert run_eval(out, "--seed", "7", models=[f"tiny={tiny_model_dir}"], k=1) == 2
    err = capsys.readouterr().err
    assert re.search(r"toy_add.jsonl: sample 0 of problem '.+' was drawn with seed \d+, but this run's --seed gives "
                     r"it seed \d+: the samples there come from another --seed", err), err
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=1) == 0  # the seed they were drawn with resumes


def test_an_output_dir_that_is_a_file_is_a_clear_error_before_any_model_loads(tiny_model_dir, tmp_path, capsys,
                                                                             monkeypatch):
    monkeypatch.setattr(HFBackend, "__init__", lambda *a, **k: pytest.fail("a model was loaded"))
    (tmp_path / "taken").write_text("")
    assert run_eval(tmp_path / "taken", models=[f"tiny={tiny_model_dir}"]) == 2
    assert (f"error: --output-dir {tmp_path / 'taken'} is not a folder: {tmp_path / 'taken'} is an existing file"
            in capsys.readouterr().err)


def no_model_loads(monkeypatch):
    monkeypatch.setattr(HFBackend, "__init__", lambda *a, **k: pytest.fail("a model was loaded"))


def test_a_changed_benchmark_file_is_refused_before_any_model_loads(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """Samples are keyed by problem id only, so samples of one file must never be scored against another's answers:
    protocol.json records each benchmark's file and SHA-256, and a resume from another file is refused."""
    out = tmp_path / "eval"
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=1) == 0
    recorded = json.loads((out / "samples" / "tiny" / "protocol.json").read_text())["benchmarks"]
    assert recorded == {name: {"file": str(FIXTURES / f"{name}.jsonl"), "sha256": load_benchmark(name, FIXTURES).sha256}
                        for name in BENCHMARKS}

    # Same names, same ids, other answers: what a --data-dir over the packaged sets (or an edited file) gives.
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(FIXTURES / "toy_mul.jsonl", other)
    (other / "toy_add.jsonl").write_text((FIXTURES / "toy_add.jsonl").read_text().replace('"answer": "2"',
                                                                                          '"answer": "7"'))
    no_model_loads(monkeypatch)
    argv = ["--model", f"tiny={tiny_model_dir}", "--benchmarks", ",".join(BENCHMARKS), "--k", "1", "--max-tokens",
            "5", "--output-dir", str(out), "--backend", "hf", "--device", "cpu"]
    assert eval_cli.main([*argv, "--data-dir", str(other)]) == 2
    error = capsys.readouterr().err
    assert f"benchmark 'toy_add' is now {other / 'toy_add.jsonl'} (sha256 " in error
    assert f"were made from {FIXTURES / 'toy_add.jsonl'} (sha256 {recorded['toy_add']['sha256'][:12]}" in error
    assert "into another --output-dir" in error
    # The same bytes elsewhere are the same problems: the samples are reused (nothing to generate, no model).
    shutil.copy(FIXTURES / "toy_add.jsonl", other)
    assert eval_cli.main([*argv, "--data-dir", str(other)]) == 0
    assert json.loads((out / "samples" / "tiny" / "protocol.json").read_text())["benchmarks"]["toy_add"]["file"] == (
        str(other / "toy_add.jsonl"))

    # A protocol.json of the version before this record: its samples' file is unknown, so it is not trusted.
    protocol_file = out / "samples" / "tiny" / "protocol.json"
    protocol = json.loads(protocol_file.read_text())
    del protocol["benchmarks"]
    protocol_file.write_text(json.dumps(protocol))
    assert eval_cli.main([*argv, "--data-dir", str(FIXTURES)]) == 2
    assert (f"{out / 'samples' / 'tiny' / 'toy_add.jsonl'} holds samples, but {protocol_file} does not record which "
            "file of benchmark 'toy_add'") in capsys.readouterr().err
    protocol_file.unlink()  # what the message advises when the samples are known to come from this file
    assert eval_cli.main([*argv, "--data-dir", str(FIXTURES)]) == 0


def test_a_bad_ground_truth_in_a_data_dir_fails_before_any_model_loads(tiny_model_dir, tmp_path, capsys,
                                                                       monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "toy_add.jsonl").write_text((FIXTURES / "toy_add.jsonl").read_text().replace('"answer": "2"',
                                                                                         '"answer": "None"'))
    no_model_loads(monkeypatch)
    argv = ["--model", f"tiny={tiny_model_dir}", "--benchmarks", "toy_add", "--data-dir", str(data), "--output-dir",
            str(tmp_path / "out")]
    assert eval_cli.main(argv) == 2
    assert f"{data / 'toy_add.jsonl'}:2: field 'answer' is 'None', the text of a missing value" in (
        capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_a_resume_with_another_backend_dtype_or_sampler_is_refused(tiny_model_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "eval"
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=1) == 0
    protocol_file = out / "samples" / "tiny" / "protocol.json"
    protocol = json.loads(protocol_file.read_text())
    assert (protocol["backend"], protocol["dtype"], protocol["sampler"]) == ("hf", "float32", backends.SAMPLER)
    no_model_loads(monkeypatch)
    assert run_eval(out, "--dtype", "bfloat16", models=[f"tiny={tiny_model_dir}"], k=1) == 2
    assert "dtype: 'float32' there, 'bfloat16' now" in capsys.readouterr().err
    assert run_eval(out, "--dtype", "float32", models=[f"tiny={tiny_model_dir}"], k=1) == 0  # what auto gave on CPU

    # Samples drawn another way (an older seeding scheme, say) are not mixed with this one's.
    protocol_file.write_text(json.dumps({**protocol, "sampler": "per-batch-seed"}))
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=1) == 2
    assert f"sampler: 'per-batch-seed' there, '{backends.SAMPLER}' now" in capsys.readouterr().err
    # A protocol.json from before these were recorded says nothing about them: not trusted either.
    protocol_file.write_text(json.dumps({key: value for key, value in protocol.items()
                                         if key not in ("backend", "dtype", "sampler")}))
    assert run_eval(out, models=[f"tiny={tiny_model_dir}"], k=1) == 2
    assert (f"{protocol_file} does not record backend, dtype, sampler (an older version wrote it), so whether the "
            "samples beside it were made with backend 'hf', dtype 'float32', sampler ") in capsys.readouterr().err


def test_prompt_formats():
    with_template, without = make_tokenizer(), make_tokenizer(chat_template=None)
    paper = CHATML.format(content=f"{INSTRUCTION} What is 1 + 1?")
    assert paper == (
        "<|im_start|>user\nPlease reason step by step, and put your final answer within \\boxed{}. What is 1 + 1?"
        "<|im_end|>\n<|im_start|>assistant\n"
    )
    assert render_prompt(without, "What is 1 + 1?", "auto") == paper
    assert render_prompt(with_template, "What is 1 + 1?", "chatml") == paper
    with_template.chat_template = "{% for m in messages %}[{{ m.content }}]{% endfor %}"
    assert render_prompt(with_template, "q", "auto") == f"[{INSTRUCTION} q]"


def test_enable_thinking_reaches_the_chat_template(capsys):
    qwen3_like = make_tokenizer(chat_template=THINKING_TEMPLATE)
    paper = CHATML.format(content=f"{INSTRUCTION} q")
    assert render_prompt(qwen3_like, "q", "auto") == paper  # auto passes nothing: the template's default
    assert render_prompt(qwen3_like, "q", "auto", "auto") == paper
    assert render_prompt(qwen3_like, "q", "auto", "true") == paper
    assert render_prompt(qwen3_like, "q", "auto", "false") == paper + "<think>\n\n</think>\n\n"
    echo = make_tokenizer(chat_template="{{ enable_thinking if enable_thinking is defined else 'unset' }}")
    assert [render_prompt(echo, "q", "auto", mode) for mode in ("auto", "true", "false")] == ["unset", "True", "False"]
    # The hand-written ChatML has no thinking switch: a non-auto value is refused, naming both flags.
    for mode in ("true", "false"):
        with pytest.raises(DataError, match=f"--enable-thinking {mode} .* --prompt-format chatml"):
            render_prompt(qwen3_like, "q", "chatml", mode)
        with pytest.raises(DataError, match=f"--enable-thinking {mode}: the tokenizer has no chat template"):
            render_prompt(make_tokenizer(chat_template=None), "q", "auto", mode)
    assert render_prompt(qwen3_like, "q", "chatml", "auto") == paper
    # The CLI refuses the combination before it looks at any model or data.
    argv = ["--model", "nope", "--data-dir", "nope", "--output-dir", "nope", "--prompt-format", "chatml"]
    assert eval_cli.main([*argv, "--enable-thinking", "false"]) == 2
    assert "--enable-thinking false only applies to the tokenizer's chat template, but --prompt-format chatml" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        eval_cli.main([*argv, "--enable-thinking", "False"])
    assert "invalid choice: 'False'" in capsys.readouterr().err


def test_cli_evaluates_with_thinking_off(tiny_model_dir, tmp_path):
    model = tmp_path / "qwen3_like"
    shutil.copytree(tiny_model_dir, model)
    make_tokenizer(chat_template=THINKING_TEMPLATE).save_pretrained(model)
    out = tmp_path / "eval"
    assert run_eval(out, "--enable-thinking", "false", models=[f"m={model}"], k=1) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["enable_thinking"] == "false"
    prompt = results["models"]["m"]["prompt"]
    assert prompt["enable_thinking"] == "false"
    assert prompt["example"] == CHATML.format(content=f"{INSTRUCTION} <problem>") + "<think>\n\n</think>\n\n"
    assert "enable_thinking false" in (out / "results.md").read_text()


def test_hf_backend_stops_at_stop_tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    backend = HFBackend(str(tiny_model_dir), tokenizer, device="cpu")
    assert backend.stop_ids == [WORDS.index("<|endoftext|>"), WORDS.index("<|im_end|>")]
    prompt = tokenizer("so is", add_special_tokens=False).input_ids
    completions = backend.generate([prompt, prompt[:1]], [0, 1], SamplingSpec(0.6, 0.95, 20, max_tokens=40))
    for completion in completions:
        assert completion.truncated == (completion.num_tokens == 40)
        assert "<|im_end|>" not in completion.text and "<|endoftext|>" not in completion.text
    assert any(not c.truncated for c in completions)  # 2 of 9 tokens stop; 40 steps make a stop near certain
    backend.close()


# ---------------------------------------------------------------------------------------------- data


def write_lines(path, *lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path.parent


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"id": 1, "problem": "p", "answer": "1"}', "{not json"],
         r"bench.jsonl:2: not valid JSON \(Expecting property name enclosed in double quotes at column 2\)"),
        (['{"id": 1, "problem": "p", "answer": "1"}', '{"id": 2, "problem": "p"}'],
         r"bench.jsonl:2: field 'answer' is missing or null"),
        (['{"problem": "p", "answer": "1"}'], r":1: field 'id' is missing or null"),
        (['{"id": 1, "problem": "", "answer": "1"}'], r":1: field 'problem' is empty"),
        (['{"id": 1, "problem": "p", "answer": [1]}'],
         r":1: field 'answer' is of type list \(\[1\]\), not text or a number"),
        (['{"id": 1, "problem": "p", "answer": "1"}', '{"id": "1", "problem": "q", "answer": "2"}'],
         r":2: duplicate id '1' \(first on line 1\)"),
        (["[1, 2]"], r":1: expected a JSON object"),
        ([""], r"holds no problems"),
    ],
)
def test_malformed_benchmark_file_names_file_line_and_field(tmp_path, lines, message):
    data_dir = write_lines(tmp_path / "bench.jsonl", *lines)
    with pytest.raises(DataError, match=message):
        load_benchmark("bench", data_dir)


def test_benchmarks_are_packaged_and_a_data_dir_overrides_them(tmp_path):
    packaged = load_benchmark("aime24")
    assert packaged.packaged and packaged.path.parent == PACKAGED_DIR and len(packaged.problems) == 30
    assert load_benchmark("aime24", tmp_path) == packaged  # a directory without the file: the packaged copy
    write_lines(tmp_path / "aime24.jsonl", '{"id": "x", "problem": "p", "answer": "7"}')
    mine = load_benchmark("aime24", tmp_path)
    assert (mine.packaged, mine.path, mine.problems) == (False, tmp_path / "aime24.jsonl", (Problem("x", "p", "7"),))
    with pytest.raises(DataError, match=r"benchmark 'mine': there is no packaged copy \(packaged: aime24, aime25, "
                                        r"amc23, gsm8k, math500\); pass --data-dir with a file mine.jsonl"):
        load_benchmark("mine")
    with pytest.raises(DataError, match=r"mine.jsonl not found and there is no packaged copy"):
        load_benchmark("mine", tmp_path)
    with pytest.raises(DataError, match=r"--data-dir .*nope: no such directory"):
        load_benchmark("aime24", tmp_path / "nope")


@pytest.mark.parametrize("row, message", [
    ({"id": 1, "problem": "p", "answer": None}, "field 'answer' is missing or null"),
    ({"id": 1, "problem": None, "answer": "1"}, "field 'problem' is missing or null"),
    ({"id": 1, "problem": "  ", "answer": "1"}, "field 'problem' is empty"),
    ({"id": 1, "problem": 7, "answer": "1"}, r"field 'problem' is of type int \(7\), not text"),
    ({"id": 1, "problem": "p", "answer": " "}, "field 'answer' is empty"),
    ({"id": 1, "problem": "p", "answer": float("nan")}, "field 'answer' is null"),
    ({"id": 1, "problem": "p", "answer": float("inf")}, "field 'answer' is not finite"),
    ({"id": 1, "problem": "p", "answer": True}, r"field 'answer' is of type bool \(True\), not text or a number"),
    ({"id": 1, "problem": "p", "answer": {"a": 1}}, "field 'answer' is of type dict"),
    # The text of a null is what a broken export leaves: the reward would score every sample 0 against it.
    ({"id": 1, "problem": "p", "answer": "None"}, "field 'answer' is 'None', the text of a missing value"),
    ({"id": 1, "problem": "p", "answer": " nan "}, "field 'answer' is 'nan', the text of a missing value"),
    ({"id": 1, "problem": "p", "answer": "NULL"}, "field 'answer' is 'NULL', the text of a missing value"),
    ({"id": 1.5, "problem": "p", "answer": "1"}, "field 'id' must be a non-empty string or an integer"),
])
def test_no_bad_row_becomes_a_ground_truth(row, message):
    # str(None) would be the ground truth "None", which the response \boxed{None} matches.
    with pytest.raises(DataError, match=f"row 3: {message}"):
        check_record(row["id"], row["problem"], row["answer"], "row 3")


def test_a_non_utf8_benchmark_file_is_named(tmp_path):
    (tmp_path / "bench.jsonl").write_bytes(b'{"id": 1, "problem": "p", "answer": "1"}\n{"id": 2, "problem": "\xe9"}\n')
    with pytest.raises(DataError, match=r"bench.jsonl:2: not UTF-8 text \(byte 0xe9 at column 23\)"):
        load_benchmark("bench", tmp_path)


def test_fixture_values_are_normalised():
    problems = load_benchmark("toy_mul", FIXTURES).problems
    assert [(p.id, p.answer) for p in problems] == [("1", "1"), ("2", "3")]  # integer id, answer 3.0 -> "3"


def test_cli_errors_name_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit):
        eval_cli.main(["--model", "x", "--data-dir", str(FIXTURES), "--output-dir", str(tmp_path), "--k", "0"])
    assert "--k must be an integer >= 1, got 0" in capsys.readouterr().err
    argv = ["--model", str(tmp_path), "--data-dir", str(FIXTURES), "--output-dir", str(tmp_path)]
    assert eval_cli.main([*argv, "--benchmarks", "toy_add,../x"]) == 2
    assert "--benchmarks: '../x' is not a valid name" in capsys.readouterr().err
    assert eval_cli.main([*argv, "--benchmarks", "toy_add,toy_add"]) == 2
    assert "--benchmarks lists ['toy_add'] more than once" in capsys.readouterr().err


def test_module_entry_point_reports_a_missing_benchmark(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "abc_grpo_verl.eval", "--model", str(tmp_path), "--benchmarks", "amc23,mine",
         "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert result.returncode == 2
    assert f"benchmark 'mine': {tmp_path / 'mine.jsonl'} not found and there is no packaged copy" in result.stderr


@pytest.fixture
def prepare():
    """examples/eval_data/prepare_eval_data.py, loaded as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("prepare_eval_data", REPO / "examples/eval_data/prepare_eval_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_script_normalises_hub_rows(prepare):
    # AIME 2025 style: a question column and no id
    assert prepare.normalize_rows([{"question": "q1", "answer": "70"}, {"question": "q2", "answer": "588"}],
                                  "aime25", "AIME2025-I") == [
        {"id": "AIME2025-I-1", "problem": "q1", "answer": "70"},
        {"id": "AIME2025-I-2", "problem": "q2", "answer": "588"},
    ]
    # MATH-500 style: problem + unique_id; AMC style float answers
    assert prepare.normalize_rows([{"problem": "p", "answer": 27.0, "unique_id": "test/x.json"}], "m", "m") == [
        {"id": "test/x.json", "problem": "p", "answer": "27"}
    ]
    with pytest.raises(ValueError, match=r"org/ds: no problem column \(looked for \['problem', 'question'\]; it has"):
        prepare.normalize_rows([{"text": "p", "answer": "1"}], "org/ds", "x")
    # A null answer on the hub is refused with the row, never written as the ground truth "None".
    with pytest.raises(DataError, match=r"org/ds, row 2: field 'answer' is missing or null"):
        prepare.normalize_rows([{"problem": "p", "answer": "1"}, {"problem": "q", "answer": None}], "org/ds", "x")


def test_prepare_script_reports_a_changed_hub_dataset_without_a_traceback(prepare, tmp_path, monkeypatch, capsys):
    # what fetch() meets when a hub dataset renames its columns: normalize_rows's error, as load_dataset's rows
    monkeypatch.setattr(prepare, "fetch", lambda name: prepare.normalize_rows([{"text": "p"}], f"org/{name}", name))
    assert prepare.main(["--output-dir", str(tmp_path), "--benchmarks", "amc23"]) == 2
    assert "error: org/amc23: no problem column (looked for ['problem', 'question']" in capsys.readouterr().err
    assert not (tmp_path / "amc23.jsonl").exists()


def test_sample_store_rejects_a_corrupt_middle_line(tmp_path):
    path = tmp_path / "s.jsonl"
    good = json.dumps({"id": "a", "sample": 0, "pred": "1", "correct": True, "num_tokens": 3, "truncated": False})
    write_lines(path, good, "{broken", good.replace('"sample": 0', '"sample": 1'))
    with pytest.raises(StoreError, match=r"s.jsonl:2: not valid JSON"):
        SampleStore(path)
    write_lines(path, good, good)
    with pytest.raises(StoreError, match=r"s.jsonl:2: sample 0 of problem 'a' appears twice"):
        SampleStore(path)


@pytest.mark.parametrize(("field", "value", "what"), [("correct", "false", "true or false"),
                                                      ("truncated", 0, "true or false"),
                                                      ("sample", "0", "an integer"), ("sample", True, "an integer"),
                                                      ("num_tokens", 3.5, "an integer"), ("id", 1, "a string"),
                                                      ("pred", 5, "a string or null"), ("seed", "42", "an integer")])
def test_sample_store_checks_each_fields_type_on_load(tmp_path, field, value, what):
    """A "correct": "false" ended in a TypeError deep in metrics.py (or, summed, would count as correct)."""
    record = {"id": "a", "sample": 0, "pred": "1", "correct": True, "num_tokens": 3, "truncated": False, "seed": 1,
              field: value}
    write_lines(tmp_path / "s.jsonl", json.dumps(record))
    with pytest.raises(StoreError) as error:
        SampleStore(tmp_path / "s.jsonl")
    assert str(error.value) == (f"{tmp_path / 's.jsonl'}:1: field {field!r} is {json.dumps(value)}, not {what}; fix "
                                "or delete the line")


@pytest.mark.parametrize("content", [b"", b'{"k": 4, "max_tok', b"[1, 2]", b"\xff{}"])
def test_an_empty_or_cut_protocol_file_is_a_clear_error_before_any_model_loads(tiny_model_dir, tmp_path, capsys,
                                                                               monkeypatch, content):
    protocol = tmp_path / "eval" / "samples" / "tiny" / "protocol.json"
    protocol.parent.mkdir(parents=True)
    protocol.write_bytes(content)
    monkeypatch.setattr(HFBackend, "__init__", lambda *a, **k: pytest.fail("a model was loaded"))
    assert run_eval(tmp_path / "eval", models=[f"tiny={tiny_model_dir}"]) == 2
    assert f"{protocol} is empty or not a JSON object (a run killed while writing it leaves this)" in (
        capsys.readouterr().err)


def test_protocol_file_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "protocol.json"
    write_atomic(path, "old")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")  # a failure (or a kill) before the rename leaves the old file whole
    assert path.read_text() == "old"
    monkeypatch.undo()
    write_atomic(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["protocol.json"]


def test_concurrent_atomic_writes_of_one_file_do_not_collide(tmp_path, monkeypatch):
    """Processes sharing an --output-dir (one per model, as the docs suggest) rewrite the same results.json: a writer
    paused between writing its temporary file and renaming it must not have that file taken over by another."""
    path = tmp_path / "results.json"
    paused, resume = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def fsync(fd):
        if threading.current_thread().name == "first":
            paused.set()
            assert resume.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    errors = []

    def first():
        try:
            write_atomic(path, "first " * 1000)
        except Exception as e:  # the main thread asserts there was none
            errors.append(e)

    thread = threading.Thread(target=first, name="first")
    thread.start()
    assert paused.wait(10)
    write_atomic(path, "second")  # the whole write of another process, while the first is paused
    assert path.read_text() == "second"
    resume.set()
    thread.join(10)
    assert errors == []
    assert path.read_text() == "first " * 1000  # the last rename wins, whole
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left behind


def test_dropping_a_cut_off_line_never_rewrites_the_complete_samples(tmp_path, monkeypatch):
    """A kill while the store drops a cut-off last line must not cost the complete lines before it. Rewriting the
    file would: a kill mid-rewrite leaves it truncated. Modelled here by a writer that dies halfway through."""
    path = tmp_path / "s.jsonl"
    records = [{"id": "a", "sample": j, "pred": "1", "correct": True, "num_tokens": 3, "truncated": False}
               for j in range(3)]
    complete = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.write_bytes(complete + b'{"id": "a", "sam')

    class Killed(BaseException):
        pass

    def dies_halfway(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise Killed

    monkeypatch.setattr(Path, "write_bytes", dies_halfway)
    try:
        assert sorted(SampleStore(path).records) == [("a", 0), ("a", 1), ("a", 2)]
    except Killed:
        pass  # the kill: whatever it left on disk is checked next
    assert path.read_bytes() == complete
    with path.open("ab") as f:  # interrupted again, now mid-character
        f.write('{"id": "é'.encode()[:-1])
    assert len(SampleStore(path).records) == 3 and path.read_bytes() == complete


def test_a_mistyped_local_path_is_not_sent_to_the_hub(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    monkeypatch.setattr(HfApi, "model_info", lambda *a, **k: pytest.fail("the Hub was asked"))
    with pytest.raises(ModelError, match=r"--model runs/abc_typo: no such directory \(runs/ exists here, so this is a "
                                         r"local path, not a Hub id; check the spelling\)"):
        detect_model("runs/abc_typo")
    assert eval_cli.main(["--model", "runs/abc_typo", "--output-dir", "out", "--benchmarks", "amc23"]) == 2
    assert "--model runs/abc_typo: no such directory (runs/ exists here" in capsys.readouterr().err


def hub_spec(repo_id="org/model"):
    return ModelSpec(label="m", given=repo_id, kind="hub", location=repo_id)


def test_hub_ids_are_checked_before_any_model_loads(monkeypatch):
    import httpx
    from huggingface_hub import constants
    from huggingface_hub.errors import RepositoryNotFoundError

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, name: None)

    def unreachable(self, repo_id, timeout=None):
        raise httpx.ConnectError("[Errno -2] Name or service not known")

    monkeypatch.setattr(HfApi, "model_info", unreachable)
    with pytest.raises(ModelError, match=r"--model org/model: no such local directory, and the Hub id 'org/model' is "
                                         r"not in the local Hugging Face cache .*, and the Hub cannot be reached "
                                         r"\(ConnectError: .*\); without network, pass a local directory"):
        check_hub_models([hub_spec()])

    def missing(self, repo_id, timeout=None):
        raise RepositoryNotFoundError("404", response=httpx.Response(404, request=httpx.Request("GET", "http://x")))

    monkeypatch.setattr(HfApi, "model_info", missing)
    with pytest.raises(ModelError, match=r"and the Hub has no model 'org/model' \(or it is private"):
        check_hub_models([hub_spec()])
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelError, match=r"not in the local Hugging Face cache .* while HF_HUB_OFFLINE is set"):
        check_hub_models([hub_spec()])
    # In the cache: nothing is asked of the Hub, offline or not.
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, name: "/cache/config.json")
    check_hub_models([hub_spec()])
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, name: None)
    monkeypatch.setattr(HfApi, "model_info", lambda self, repo_id, timeout=None: object())
    check_hub_models([hub_spec()])  # on the Hub


def test_per_sample_sampling_draws_from_hf_warped_probabilities():
    # Logits over 6 tokens; the protocol's warping written out: /0.6, keep the top 20 (all 6), then the smallest set
    # of most likely tokens whose mass reaches 0.95.
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    probs = torch.softmax(logits / 0.6, dim=0).double()
    order = torch.argsort(probs, descending=True)
    keep = int((torch.cumsum(probs[order], 0) < 0.95).sum()) + 1
    expected = torch.zeros(6, dtype=torch.float64)
    expected[order[:keep]] = probs[order[:keep]] / probs[order[:keep]].sum()

    n = 20_000
    sampler = PerSampleSampling(list(range(n)), SamplingSpec(0.6, 0.95, 20, max_tokens=1))
    scores = sampler(torch.zeros(n, 1, dtype=torch.long), logits.repeat(n, 1))
    assert torch.isinf(scores).sum(dim=1).tolist() == [5] * n  # one finite score per row: generate's argmax picks it
    tokens = scores.argmax(dim=1)
    frequency = torch.bincount(tokens, minlength=6).double() / n
    torch.testing.assert_close(frequency, expected, atol=4 * (0.25 / n) ** 0.5, rtol=0)
    assert frequency[order[keep:]].sum() == 0  # top-p removed these

    # A row's draws depend on its seed only: the same seeds in another batch, order and company give the same tokens.
    again = PerSampleSampling([7, 3, 11], SamplingSpec(0.6, 0.95, 20, max_tokens=1))
    alone = [PerSampleSampling([seed], SamplingSpec(0.6, 0.95, 20, max_tokens=1)) for seed in (11, 7)]
    for _ in range(5):  # consecutive steps
        batch = again(None, logits.repeat(3, 1)).argmax(1).tolist()
        assert [batch[2], batch[0]] == [s(None, logits[None]).argmax(1).item() for s in alone]


# ---------------------------------------------------------------------------------------------- checkpoints


def make_fsdp_checkpoint(hf_dir, step_dir):
    """A verl FSDP actor checkpoint as verl 0.9.1 writes it on one rank: DTensor shards, fsdp_config.json, and
    huggingface/ with the config and tokenizer (but no weights)."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor
    from transformers import AutoModelForCausalLM

    actor = Path(step_dir) / "actor"
    (actor / "huggingface").mkdir(parents=True)
    state = AutoModelForCausalLM.from_pretrained(hf_dir).state_dict()
    started = not dist.is_initialized()
    if started:
        dist.init_process_group("gloo", init_method=f"file://{step_dir}/pg", rank=0, world_size=1)
    try:
        mesh = init_device_mesh("cpu", (1,), mesh_dim_names=("fsdp",))
        sharded = {key: distribute_tensor(value.detach().clone(), mesh, [Shard(0)]) for key, value in state.items()}
        torch.save(sharded, actor / "model_world_size_1_rank_0.pt")
    finally:
        if started:
            dist.destroy_process_group()
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 2, "world_size": 1}))
    for item in Path(hf_dir).iterdir():
        if item.suffix != ".safetensors":
            (actor / "huggingface" / item.name).write_bytes(item.read_bytes())
    return actor, state


def test_verl_fsdp_checkpoint_is_merged_once_on_cpu(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    step = tmp_path / "my_run" / "global_step_3"
    actor, state = make_fsdp_checkpoint(tiny_model_dir, step)
    (spec,) = parse_model_specs([str(step)])  # the global_step dir resolves to its actor/
    assert (spec.kind, spec.location, spec.label) == ("verl_fsdp", str(actor.resolve()), "my_run-global_step_3")
    merged = Path(materialize(spec, tmp_path / "merged"))
    assert merged == tmp_path / "merged" / "my_run-global_step_3"
    assert not merged.with_name(merged.name + ".partial").exists()
    loaded = AutoModelForCausalLM.from_pretrained(merged).state_dict()
    for key, value in state.items():  # verl's merger saves bf16
        torch.testing.assert_close(loaded[key].float(), value.to(torch.bfloat16).float(), rtol=0, atol=0)

    from verl.model_merger import fsdp_model_merger

    monkeypatch.setattr(fsdp_model_merger.FSDPModelMerger, "merge_and_save", lambda self: pytest.fail("re-merged"))
    assert Path(materialize(spec, tmp_path / "merged")) == merged  # unchanged shards: the cache is reused


def test_detection_of_model_directories(tiny_model_dir, tmp_path):
    assert detect_model(str(tiny_model_dir)) == ("hf", str(Path(tiny_model_dir).resolve()))
    assert detect_model("Qwen/Qwen3-4B-Base") == ("hub", "Qwen/Qwen3-4B-Base")
    with pytest.raises(ModelError, match="--model ./nope: no such directory"):
        detect_model("./nope")
    (tmp_path / "config_only").mkdir()
    (tmp_path / "config_only" / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="has config.json but no weights"):
        detect_model(str(tmp_path / "config_only"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="neither a Hugging Face model directory"):
        detect_model(str(tmp_path / "empty"))
    (tmp_path / "mega" / "actor" / "model" / "dist_ckpt").mkdir(parents=True)
    with pytest.raises(ModelError, match="a verl Megatron checkpoint"):
        detect_model(str(tmp_path / "mega"))


def test_broken_verl_checkpoints_name_the_missing_piece(tmp_path):
    actor = tmp_path / "global_step_1" / "actor"
    actor.mkdir(parents=True)
    (actor / "model_world_size_2_rank_0.pt").write_bytes(b"")
    with pytest.raises(ModelError, match="fsdp_config.json is missing"):
        detect_model(str(actor))
    (actor / "fsdp_config.json").write_text(json.dumps({"world_size": 2}))
    with pytest.raises(ModelError, match=r"model shard model_world_size_2_rank_1.pt is missing \(1 of 2 missing\)"):
        detect_model(str(actor))
    (actor / "model_world_size_2_rank_1.pt").write_bytes(b"")
    with pytest.raises(ModelError, match="huggingface/config.json is missing"):
        detect_model(str(actor))
    (actor / "fsdp_config.json").write_text(json.dumps({"world_size": 0}))
    with pytest.raises(ModelError, match="world_size .* must be an integer >= 1, got 0"):
        detect_model(str(actor))


def test_model_labels(tiny_model_dir, tmp_path):
    specs = parse_model_specs([str(tiny_model_dir), f"mine={tiny_model_dir}", "Qwen/Qwen3-4B-Base"])
    assert [s.label for s in specs] == [Path(tiny_model_dir).name, "mine", "Qwen3-4B-Base"]
    with pytest.raises(ModelError, match="several models get the label 'x'; name them with NAME=PATH"):
        parse_model_specs([f"x={tiny_model_dir}", f"x={tiny_model_dir}"])
    with pytest.raises(ModelError, match="label 'a b' may only use"):
        parse_model_specs([f"a b={tiny_model_dir}"])


# ---------------------------------------------------------------------------------------------- vLLM wiring


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class FakeLLM:
    """Records what the backend passes; answers every request with a fixed completion."""

    instances = []

    def __init__(self, **kwargs):
        self.kwargs, self.requests = kwargs, []
        FakeLLM.instances.append(self)

    def generate(self, prompts, params, use_tqdm=True):
        self.requests.append((prompts, params))
        output = types.SimpleNamespace(text="so \\boxed{3}", token_ids=[7, 6, 1], finish_reason="stop")
        return [types.SimpleNamespace(outputs=[output]) for _ in prompts]


@pytest.fixture
def fake_vllm(monkeypatch):
    FakeLLM.instances.clear()
    module = types.ModuleType("vllm")
    module.LLM, module.SamplingParams = FakeLLM, FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(backends, "vllm_importable", lambda: True)
    return module


def test_backend_choice(monkeypatch):
    monkeypatch.setattr(backends, "vllm_importable", lambda: False)
    assert choose_backend("auto", "auto") == ("hf", "vllm is not importable")
    with pytest.raises(BackendError, match="--backend vllm: vllm is not installed"):
        choose_backend("vllm", "auto")
    monkeypatch.setattr(backends, "vllm_importable", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_backend("auto", "auto")[0] == "vllm"
    assert choose_backend("auto", "cpu") == ("hf", "--device cpu")
    with pytest.raises(BackendError, match="--backend vllm needs a GPU"):
        choose_backend("vllm", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_backend("auto", "auto")[0] == "hf"


def test_vllm_backend_requests(fake_vllm):
    backend = VLLMBackend("/models/m", dtype="bfloat16", seed=42)
    assert FakeLLM.instances[0].kwargs == {"model": "/models/m", "dtype": "bfloat16", "seed": 42}
    completions = backend.generate([[1, 2], [3]], [11, 12], SamplingSpec(0.6, 0.95, 20, max_tokens=64))
    prompts, params = FakeLLM.instances[0].requests[0]
    assert prompts == [{"prompt_token_ids": [1, 2]}, {"prompt_token_ids": [3]}]
    assert [p.kwargs["seed"] for p in params] == [11, 12]  # one seed per sample, n = 1 each
    assert params[0].kwargs == {"n": 1, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "max_tokens": 64,
                                "stop": ["</s>", "<|im_end|>", "<|endoftext|>"], "seed": 11}
    assert completions[0] == backends.Completion(text="so \\boxed{3}", num_tokens=3, truncated=False)
    backend.generate([[1]], [5], SamplingSpec(0.0, 1.0, 0, max_tokens=8))
    (greedy,) = FakeLLM.instances[0].requests[1][1]
    assert greedy.kwargs["temperature"] == 0.0 and "seed" not in greedy.kwargs


def test_cli_with_the_vllm_backend(fake_vllm, tiny_model_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "eval"
    argv = ["--model", f"v={tiny_model_dir}", "--benchmarks", "toy_add", "--k", "2", "--data-dir", str(FIXTURES),
            "--output-dir", str(out), "--backend", "vllm"]
    assert eval_cli.main(argv) == 0
    assert "[eval] backend: vllm (--backend vllm)" in capsys.readouterr().out
    assert FakeLLM.instances[0].kwargs["model"] == str(Path(tiny_model_dir).resolve())
    metrics = json.loads((out / "results.json").read_text())["models"]["v"]["metrics"]["toy_add"]
    assert metrics["avg@k"] == pytest.approx(100 / 3)  # every completion answers 3; one of three problems is 3
    assert metrics["pass@k_unbiased"] == {"1": pytest.approx(100 / 3), "2": pytest.approx(100 / 3)}
    assert json.loads((out / "samples" / "v" / "protocol.json").read_text())["dtype"] == "auto"  # the checkpoint's

    # The same command on a node without vLLM or a GPU: --backend auto picks hf, whose samples would be drawn
    # differently from the same seeds; resuming is refused before the model loads.
    monkeypatch.setattr(backends, "vllm_importable", lambda: False)
    no_model_loads(monkeypatch)
    assert eval_cli.main([*argv[:-2], "--backend", "auto"]) == 2
    assert "backend: 'vllm' there, 'hf' now" in capsys.readouterr().err


def test_prepare_script_refuses_an_output_dir_that_is_a_file(prepare, tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    with pytest.raises(SystemExit):
        prepare.main(["--output-dir", str(tmp_path / "taken"), "--benchmarks", "aime24"])
    assert f"--output-dir {tmp_path / 'taken'} is not a folder: {tmp_path / 'taken'} is an existing file" in (
        capsys.readouterr().err)
