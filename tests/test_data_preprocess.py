"""Data scripts: each fixture becomes verl-schema parquet that verl's RLHFDataset loads, and bad input fails clearly."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

from abc_grpo_verl.reward import compute_score

SCRIPTS_DIR = Path(__file__).resolve().parents[1] / "examples" / "data_preprocess"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

# output file -> (script, --input NAME=PATH arguments, expected data_source, expected ground truths)
EXPECTED = {
    "gsm8k/train": ("gsm8k", ["train=gsm8k_train.jsonl"], "openai/gsm8k", ["22", "1200", "112.5", "-5"]),
    "gsm8k/test": ("gsm8k", ["test=gsm8k_test.json"], "openai/gsm8k", ["140", "6"]),
    "math/train": ("math_dataset", ["train=math_lighteval_train.jsonl"], "DigitalLearningGmbH/MATH-lighteval",
                   ["\\frac{3}{4}", "(2, -1)", "\\sqrt{2}", "6"]),
    "math/test": ("math_dataset", ["test=math_lighteval_test.jsonl"], "DigitalLearningGmbH/MATH-lighteval",
                  ["81", "\\{-3, 3\\}"]),
    "math/math500": ("math_dataset", ["math500=math500_test.jsonl"], "HuggingFaceH4/MATH-500",
                     ["\\frac{5}{2}", "9\\pi", "6"]),
    "dapo_math/train": ("dapo_math", ["train=dapo_math_17k_train.jsonl"], "open-r1/DAPO-Math-17k-Processed",
                        ["38", "87", "58"]),
}

VERL_SCHEMA = pa.schema([
    ("data_source", pa.string()),
    ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
    ("ability", pa.string()),
    ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
    ("extra_info", pa.struct([("split", pa.string()), ("index", pa.int64()), ("question", pa.string()),
                              ("solution", pa.string())])),
])


def load_script(name):
    """Import examples/data_preprocess/<name>.py as a module (the folder is not a package)."""
    if str(SCRIPTS_DIR) not in sys.path:
        sys.path.insert(0, str(SCRIPTS_DIR))  # the scripts import their shared preprocess_utils
    spec = importlib.util.spec_from_file_location(f"data_preprocess_{name}", SCRIPTS_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scripts():
    return {name: load_script(name) for name in ("gsm8k", "math_dataset", "dapo_math")}


@pytest.fixture(scope="module")
def outputs(scripts, tmp_path_factory):
    """Every script run on its fixtures, in-process: {"gsm8k/train": Path, ...}."""
    root = tmp_path_factory.mktemp("data")
    files = {}
    for output, (script, inputs, _, _) in EXPECTED.items():
        folder, name = output.split("/")
        args = [f"--output-dir={root / folder}"]
        for value in inputs:
            input_name, _, fixture = value.partition("=")
            args.append(f"--input={input_name}={FIXTURES / fixture}")
        written = scripts[script].main(args)
        files[output] = written[name]
    return files


def tiny_tokenizer():
    """An offline byte-level BPE tokenizer with a minimal chat template (nothing is downloaded)."""
    corpus = [line for path in FIXTURES.glob("*.json*") for line in path.read_text().splitlines()] + [INSTRUCTION]
    model = Tokenizer(models.BPE())
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    model.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<pad>", "<eos>"], show_progress=False)
    model.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=model, pad_token="<pad>", eos_token="<eos>")
    # enable_thinking mimics Qwen3's template keyword, so the recipes' apply_chat_template_kwargs are exercised
    tokenizer.chat_template = (
        "{% for message in messages %}<{{ message['role'] }}>{{ message['content'] }}<eos>{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% if enable_thinking is defined and not enable_thinking %}"
        "<think></think>{% endif %}{% endif %}"
    )
    return tokenizer


def rlhf_dataset(files, tmp_path, max_prompt_length=1024):
    config = OmegaConf.create({
        "max_prompt_length": max_prompt_length,
        "filter_overlong_prompts": True,
        "filter_overlong_prompts_workers": 1,
        "truncation": "error",
        "cache_dir": str(tmp_path / "cache"),
        "apply_chat_template_kwargs": {"enable_thinking": False},
    })
    return RLHFDataset(data_files=[str(f) for f in files], tokenizer=tiny_tokenizer(), config=config)


@pytest.mark.parametrize("output", sorted(EXPECTED))
def test_output_has_verl_schema_and_expected_rows(outputs, output):
    _, _, data_source, ground_truths = EXPECTED[output]
    table = pq.read_table(outputs[output])
    assert table.schema.equals(VERL_SCHEMA), table.schema
    rows = table.to_pylist()
    assert [row["reward_model"]["ground_truth"] for row in rows] == ground_truths
    for index, row in enumerate(rows):
        assert row["data_source"] == data_source
        assert row["ability"] == "math" and row["reward_model"]["style"] == "rule"
        assert len(row["prompt"]) == 1 and row["prompt"][0]["role"] == "user"
        content = row["prompt"][0]["content"]
        assert content == f"{INSTRUCTION} {row['extra_info']['question']}"
        assert row["extra_info"]["index"] == index and row["extra_info"]["split"] in ("train", "test")
        assert "Answer:" not in content  # the DAPO wrapper is gone


@pytest.mark.parametrize("output", sorted(EXPECTED))
def test_rlhf_dataset_loads_every_row(outputs, output, tmp_path):
    _, _, data_source, ground_truths = EXPECTED[output]
    dataset = rlhf_dataset([outputs[output]], tmp_path)
    # RLHFDataset silently drops rows whose chat template fails, so the count is the real check
    assert len(dataset) == len(ground_truths)
    for index, expected in enumerate(ground_truths):
        item = dataset[index]
        assert item["data_source"] == data_source
        assert item["reward_model"]["ground_truth"] == expected
        assert item["raw_prompt"][0]["content"].startswith(INSTRUCTION)
        assert item["index"] == index


def test_gsm8k_and_math_train_files_load_together(outputs, tmp_path):
    """The 8B recipes pass both train files; verl concatenates them, which needs identical columns."""
    dataset = rlhf_dataset([outputs["gsm8k/train"], outputs["math/train"]], tmp_path)
    assert len(dataset) == 8
    batch = collate_fn([dataset[0], dataset[7]])
    assert list(batch["data_source"]) == ["openai/gsm8k", "DigitalLearningGmbH/MATH-lighteval"]
    assert [info["ground_truth"] for info in batch["reward_model"]] == ["22", "6"]


def test_overlong_prompts_are_filtered_by_verl(outputs, tmp_path):
    assert len(rlhf_dataset([outputs["gsm8k/train"]], tmp_path, max_prompt_length=8)) == 0


@pytest.mark.parametrize("output", sorted(EXPECTED))
def test_ground_truths_are_gradable_by_the_reward(outputs, output):
    """A response boxing the stored ground truth scores 1 (and GSM8K's own '####' form too)."""
    for row in pq.read_table(outputs[output]).to_pylist():
        truth = row["reward_model"]["ground_truth"]
        kwargs = {"data_source": row["data_source"], "ground_truth": truth, "extra_info": row["extra_info"]}
        assert compute_score(solution_str=f"So the answer is \\boxed{{{truth}}}.", **kwargs)["score"] == 1.0
        if row["data_source"] == "openai/gsm8k":
            assert compute_score(solution_str=f"Done.\n#### {truth}", **kwargs)["score"] == 1.0


def test_parquet_input_and_bare_path(scripts, tmp_path):
    records = [json.loads(line) for line in (FIXTURES / "dapo_math_17k_train.jsonl").read_text().splitlines()]
    source = tmp_path / "dapo.parquet"
    pq.write_table(pa.Table.from_pylist(records), source)
    written = scripts["dapo_math"].main([f"--input={source}", f"--output-dir={tmp_path / 'out'}"])
    rows = pq.read_table(written["train"]).to_pylist()
    assert [row["reward_model"]["ground_truth"] for row in rows] == ["38", "87", "58"]


HUB_FIXTURES = {
    ("DigitalLearningGmbH/MATH-lighteval", "train"): "math_lighteval_train.jsonl",
    ("DigitalLearningGmbH/MATH-lighteval", "test"): "math_lighteval_test.jsonl",
    ("HuggingFaceH4/MATH-500", "test"): "math500_test.jsonl",
    ("open-r1/DAPO-Math-17k-Processed", "train"): "dapo_math_17k_train.jsonl",
}


def test_hub_is_the_default_source(scripts, tmp_path, monkeypatch):
    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        lines = (FIXTURES / HUB_FIXTURES[path, split]).read_text().splitlines()
        return datasets.Dataset.from_list([json.loads(line) for line in lines])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    written = scripts["math_dataset"].main([f"--output-dir={tmp_path}"])
    assert sorted(written) == ["math500", "test", "train"]
    assert pq.read_table(written["math500"]).num_rows == 3
    written = scripts["dapo_math"].main([f"--output-dir={tmp_path / 'dapo'}", "--subset=en"])
    assert pq.read_table(written["train"]).num_rows == 3
    assert calls == [("DigitalLearningGmbH/MATH-lighteval", "default", "train"),
                     ("DigitalLearningGmbH/MATH-lighteval", "default", "test"),
                     ("HuggingFaceH4/MATH-500", None, "test"),
                     ("open-r1/DAPO-Math-17k-Processed", "en", "train")]


def error_of(script, args):
    with pytest.raises(SystemExit) as exit_info:
        script.main(args)
    return str(exit_info.value.code)


def test_missing_columns_are_named(scripts, tmp_path):
    message = error_of(scripts["gsm8k"], [f"--input=train={FIXTURES / 'math500_test.jsonl'}",
                                          f"--output-dir={tmp_path}"])
    assert "no record has column(s) ['question']" in message and "openai/gsm8k" in message
    assert "needs ['question', 'answer']" in message
    message = error_of(scripts["dapo_math"], [f"--input={FIXTURES / 'gsm8k_train.jsonl'}",
                                              f"--output-dir={tmp_path}"])
    assert "no record has column(s) ['prompt', 'solution']" in message


def test_bad_records_and_arguments_fail_clearly(scripts, tmp_path, monkeypatch):
    no_hashes = tmp_path / "bad.jsonl"
    no_hashes.write_text(json.dumps({"question": "q", "answer": "The answer is 4."}) + "\n")
    message = error_of(scripts["gsm8k"], [f"--input=train={no_hashes}", f"--output-dir={tmp_path}"])
    assert f"{no_hashes}:1: field 'answer' has no final '#### <number>' line" in message
    no_box = tmp_path / "nobox.jsonl"
    no_box.write_text(json.dumps({"problem": "p", "solution": "It is 4.", "level": "1", "type": "t"}) + "\n")
    assert "\\boxed{} answer" in error_of(scripts["math_dataset"], [f"--input=train={no_box}",
                                                                    f"--output-dir={tmp_path}"])
    csv = tmp_path / "data.csv"
    csv.write_text("question,answer\n")
    assert "valid: .json, .jsonl, .parquet" in error_of(scripts["gsm8k"], [f"--input=train={csv}"])
    assert "unknown output 'validation'; valid: ['test', 'train']" in error_of(
        scripts["gsm8k"], [f"--input=validation={csv}"])
    assert "give NAME=PATH" in error_of(scripts["gsm8k"], [f"--input={csv}"])
    assert "no such file" in error_of(scripts["gsm8k"], [f"--input=train={tmp_path / 'missing.jsonl'}"])

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    message = error_of(scripts["gsm8k"], [f"--output-dir={tmp_path}"])
    assert "cannot load from the Hugging Face hub" in message and "--input train=PATH" in message


def test_script_runs_from_the_command_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPTS_DIR / "gsm8k.py"), f"--input=test={FIXTURES / 'gsm8k_test.json'}",
         f"--output-dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert pq.read_table(tmp_path / "test.parquet").num_rows == 2


@pytest.mark.parametrize("name", ["gsm8k", "math_dataset", "dapo_math"])
@pytest.mark.parametrize("inside", [False, True])
def test_an_output_dir_that_is_a_file_is_a_one_line_error(scripts, tmp_path, name, inside):
    """It was a FileExistsError (or NotADirectoryError) traceback from the write, after the conversion."""
    (tmp_path / "taken").write_text("")
    output = tmp_path / "taken" / "sub" if inside else tmp_path / "taken"
    message = error_of(scripts[name], [f"--input=train={FIXTURES / 'gsm8k_test.json'}", f"--output-dir={output}"])
    where = f" (it would be inside {tmp_path / 'taken'})" if inside else ""
    assert message == (f"error: --output-dir {output} is not a folder{where}: {tmp_path / 'taken'} is an existing "
                       "file; give a folder")
