"""Robustness: the bad inputs and faults found by trying the plugin as a careful user and an adversary would (issue
#13), kept as cases so that they stay fixed. Each section covers one part of the plugin.

The other parts keep their cases beside their own tests: the loss's (nan padding, fp16, shapes, non-0/1 masks) in
tests/test_loss_inputs.py; the environment switches and integer settings in tests/test_config.py,
tests/test_launcher.py and tests/test_main_ppo.py; the evaluation's (a cut protocol.json, a --model typo that looks
like a hub id, non-UTF-8 benchmark files, resume identical to an uninterrupted run) in tests/test_eval.py."""

import json
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage, get_adv_estimator_fn

from abc_grpo_verl import reward
from abc_grpo_verl.evaluation.data import CHATML, check_record, render_prompt
from abc_grpo_verl.problems import INSTRUCTION, DataError
from abc_grpo_verl.reward import compute_score, ground_truth_problem
from tests.test_data_preprocess import load_script
from tests.test_reward import POWER_TOWER, REFUSED, without_budget

# ======================================================================================================================
# Reward and data scripts
# ======================================================================================================================

# --- The reward: no answer holds the process or another answer's grade hostage ----------------------------------------

# Grading from threads of a daemonic process (which may not have multiprocessing children): with the budget, the
# tower is refused in microseconds; without it, it reaches a worker process and is killed at the deadline. Either
# way a heartbeat thread of the daemon keeps running (sympy in-process would hold the GIL) and the other answers are
# graded right.
DAEMON_PROBE = """
import json, multiprocessing, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from abc_grpo_verl import reward

def grade_beside_a_tower(results):
    beats = [0]
    def heartbeat():
        while True:
            beats[0] += 1
            time.sleep(0.01)
    threading.Thread(target=heartbeat, daemon=True).start()
    for phase in ("budget", "deadline"):
        if phase == "deadline":
            reward.grading_cost = lambda text: reward.GradingCost.ORDINARY
            reward.TASK_DEADLINE_S = 1.0
        start, beats_before = time.monotonic(), beats[0]
        answers = ["\\\\boxed{%s}" % sys.argv[1]] + ["\\\\boxed{(1,2)}", "\\\\boxed{(2,1)}"] * 5
        with ThreadPoolExecutor(4) as threads:
            scores = list(threads.map(lambda text: reward.compute_score(
                data_source="x", solution_str=text, ground_truth="(1,2)")["score"], answers))
        results.put({"phase": phase, "scores": scores, "seconds": time.monotonic() - start,
                     "beats": beats[0] - beats_before})

context = multiprocessing.get_context("fork")
results = context.Queue()
daemon = context.Process(target=grade_beside_a_tower, args=(results,), daemon=True)
daemon.start()
print(json.dumps([results.get(timeout=100), results.get(timeout=100)]))
daemon.join(timeout=10)
"""


@pytest.mark.slow
def test_a_tower_graded_in_a_daemonic_process_holds_nothing_hostage():
    result = subprocess.run([sys.executable, "-c", DAEMON_PROBE, POWER_TOWER], capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    budget, deadline = json.loads(result.stdout)
    assert budget["scores"] == deadline["scores"] == [0.0] + [1.0, 0.0] * 5
    # the tower's verdict took the 1 s deadline (plus worker starts); the heartbeat ran all along
    assert deadline["seconds"] >= 1.0 and deadline["beats"] >= 20 * deadline["seconds"]
    assert "counted wrong, worker replaced" in result.stderr  # only in the deadline phase
    assert "Cannot start" not in result.stderr


# The same inside a Ray actor with concurrent calls (threads of a Ray worker process), as verl's reward workers grade:
# the tower (cost check off, so it reaches a grading process) is killed at the deadline, the rest grade right.
RAY_PROBE = """
import json, logging, sys
import ray
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)

@ray.remote(max_concurrency=4)
class Grader:
    def __init__(self):
        from abc_grpo_verl import reward
        reward.grading_cost = lambda text: reward.GradingCost.ORDINARY
        reward.TASK_DEADLINE_S = 1.0
        self.reward, self.records = reward, []
        handler = logging.Handler()
        handler.emit = lambda record: self.records.append(record.getMessage())
        reward.logger.addHandler(handler)

    def grade(self, text):
        return self.reward.compute_score(data_source="x", solution_str=text, ground_truth="(1,2)")["score"]

    def log(self):
        return self.records

grader = Grader.remote()
answers = ["\\\\boxed{%s}" % sys.argv[1]] + ["\\\\boxed{(1,2)}", "\\\\boxed{(2,1)}"] * 4
scores = ray.get([grader.grade.remote(text) for text in answers], timeout=120)
print(json.dumps({"scores": scores, "log": ray.get(grader.log.remote())}))
ray.shutdown()
"""


@pytest.mark.slow
def test_a_tower_graded_in_a_threaded_ray_actor_holds_nothing_hostage():
    result = subprocess.run([sys.executable, "-c", RAY_PROBE, POWER_TOWER], capture_output=True, text=True,
                            timeout=240, env={**os.environ, "RAY_DISABLE_USAGE_STATS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["scores"] == [0.0] + [1.0, 0.0] * 4
    # the deadline, not a quick verdict, scored the tower (read in the actor: Ray forwards worker logs asynchronously)
    assert [line for line in outcome["log"] if "counted wrong, worker replaced" in line]


@pytest.mark.parametrize("budget", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["budget", "deadline"])
def test_correct_answers_beside_pathological_ones_all_score_one(budget, monkeypatch):
    """The issue's batch: 16 threads, 8 towers beside 100 correct answers. Before, 0 to 4 of the correct ones scored 0
    per run: the deadline counted the wait in the pool's queue, and replacing the pool killed the tasks queued behind
    the tower. Without the budget each tower is killed alone, at a deadline counted from when its worker takes it."""
    if not budget:
        without_budget(monkeypatch)
        monkeypatch.setattr(reward, "TASK_DEADLINE_S", 1.0)
    answers = [f"\\boxed{{{POWER_TOWER}}}"] * 8 + ["\\boxed{(1,2)}"] * 100
    with ThreadPoolExecutor(16) as threads:
        scores = list(threads.map(lambda text: compute_score(data_source="x", solution_str=text,
                                                             ground_truth="(1,2)")["score"], answers))
    assert scores == [0.0] * 8 + [1.0] * 100


@pytest.mark.parametrize(("answer", "why"), REFUSED)
def test_an_answer_past_the_budget_never_reaches_sympy(answer, why, monkeypatch):
    monkeypatch.setattr(reward, "_workers", lambda: pytest.fail(f"sent to a worker ({why})"))
    assert compute_score(data_source="x", solution_str=f"\\boxed{{{answer}}}", ground_truth="3")["score"] == 0.0
    assert compute_score(data_source="x", solution_str=f"\\boxed{{{answer}}}", ground_truth=answer)["score"] == 1.0


# --- The reward: a bad ground truth never scores ----------------------------------------------------------------------

BAD_GROUND_TRUTHS = [
    (None, "is null"),
    (float("nan"), "is null"),
    (np.float64("nan"), "is null"),
    ("None", "is 'None', the text of a missing value"),
    (" none ", "is 'none', the text of a missing value"),
    ("null", "is 'null'"),
    ("NaN", "is 'NaN'"),
    ("", "is empty"),
    ("  \n", "is empty"),
    ([1, 2], "is of type list ([1, 2]), not text or a number"),
    (["38"], "is of type list"),
    ({"answer": "38"}, "is of type dict"),
    (True, "is of type bool"),
    (np.bool_(True), "is of type bool"),
    (float("inf"), "is not finite"),
]


@pytest.mark.parametrize(("ground_truth", "problem"), BAD_GROUND_TRUTHS)
def test_a_bad_ground_truth_scores_nothing(ground_truth, problem, caplog, monkeypatch):
    monkeypatch.setattr(reward, "_warned_ground_truths", set())
    assert problem in ground_truth_problem(ground_truth)
    with caplog.at_level(logging.WARNING, logger=reward.__name__):
        for response in ("\\boxed{None}", f"\\boxed{{{ground_truth}}}", "\\boxed{}", "\\boxed{38}") * 2:
            result = compute_score(data_source="broken/set", solution_str=response, ground_truth=ground_truth)
            assert result["score"] == 0.0 and result["acc"] is False
    assert caplog.text.count("every response scores 0.0 against it") == 1  # once per ground truth
    assert problem in caplog.text and "broken/set" in caplog.text


@pytest.mark.parametrize("ground_truth", ["38", " 38 ", 38, np.int64(38), 38.0, np.float32(38.0)])
def test_numbers_and_padded_text_are_good_ground_truths(ground_truth):
    assert ground_truth_problem(ground_truth) is None
    assert compute_score(data_source="x", solution_str="\\boxed{38}", ground_truth=ground_truth)["score"] == 1.0


# --- The data scripts: no bad row becomes a ground truth; every bad input is named ------------------------------------

# (script, --input NAME, a good record)
GOOD_RECORDS = {
    "gsm8k": ("gsm8k", "train", {"question": "Ana has 2 apples and buys 3. How many?", "answer": "2 + 3 = 5\n#### 5"}),
    "math500": ("math_dataset", "math500", {"problem": "What is $2+3$?", "solution": "It is $\\boxed{5}$.",
                                            "answer": "5"}),
    "lighteval": ("math_dataset", "train", {"problem": "What is $2+3$?", "solution": "It is $\\boxed{5}$.",
                                            "level": "Level 1", "type": "Algebra"}),
    "dapo": ("dapo_math", "train", {"prompt": "Find $2+3$.", "solution": "5"}),
}

# (dataset, the bad record's changes, what the error says after "<file>:<line>: ")
BAD_ROWS = [
    ("math500", {"answer": None}, "field 'answer' is null"),
    ("math500", {"answer": ""}, "field 'answer' is empty"),
    ("math500", {"answer": "None"}, "field 'answer' is 'None', the text of a missing value"),
    ("math500", {"answer": [1, 2]}, "field 'answer' is of type list ([1, 2]), not text or a number"),
    ("math500", {"answer": None, "problem": None}, "field 'problem' is null"),
    ("math500", {"answer": ...}, "field 'answer' is missing"),
    ("math500", {"solution": None}, "field 'solution' is null"),
    ("dapo", {"solution": None}, "field 'solution' is null"),
    ("dapo", {"solution": ["5", "6"]}, "field 'solution' is of type list (['5', '6']), not text or a number"),
    ("dapo", {"solution": {"value": 5}}, "field 'solution' is of type dict"),
    ("dapo", {"prompt": None}, "field 'prompt' is null"),
    ("dapo", {"prompt": 17}, "field 'prompt' is of type int (17), not text"),
    ("dapo", {"prompt": "Solve the following math problem step by step. The last line of your response should be of "
                        "the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
                        "Remember to put your answer on its own line after \"Answer:\""},
     "field 'prompt' holds only the 'Answer:' instruction, no problem"),
    ("gsm8k", {"question": ""}, "field 'question' is empty"),
    ("gsm8k", {"question": None}, "field 'question' is null"),
    ("gsm8k", {"answer": None}, "field 'answer' is null"),
    ("gsm8k", {"answer": "The answer is 5."}, "field 'answer' has no final '#### <number>' line"),
    ("lighteval", {"solution": "It is $\\boxed{None}$."},
     "the \\boxed{} answer of field 'solution' is 'None', the text of a missing value"),
    ("lighteval", {"solution": "It is 5."}, "field 'solution' has no complete \\boxed{} answer"),
]


@pytest.fixture(scope="module")
def scripts():
    return {name: load_script(name) for name in ("gsm8k", "math_dataset", "dapo_math")}


def bad_record(dataset, changes):
    record = dict(GOOD_RECORDS[dataset][2])
    for field, value in changes.items():
        if value is ...:
            del record[field]
        else:
            record[field] = value
    return record


def run_script(scripts, dataset, path, *flags):
    """Run the dataset's script on `path`: (the written rows, None), or (None, the error message)."""
    script, name, _ = GOOD_RECORDS[dataset]
    try:
        written = scripts[script].main([f"--input={name}={path}", f"--output-dir={path.parent / 'out'}", *flags])
    except SystemExit as exit_info:
        return None, str(exit_info.code)
    return pq.read_table(written[name]).to_pylist(), None


@pytest.mark.parametrize(("dataset", "changes", "message"), BAD_ROWS)
def test_a_bad_row_is_refused_naming_file_line_and_field(scripts, tmp_path, dataset, changes, message):
    path = tmp_path / "rows.jsonl"
    good = GOOD_RECORDS[dataset][2]
    path.write_text("\n".join(json.dumps(record) for record in [good, bad_record(dataset, changes), good]) + "\n")
    rows, error = run_script(scripts, dataset, path)
    assert rows is None
    assert f"{path}: 1 of 3 records cannot become rows" in error and "--skip-bad-rows" in error
    assert f"{path}:2: {message}" in error


@pytest.mark.parametrize("dataset", sorted(GOOD_RECORDS))
def test_skip_bad_rows_leaves_them_out_and_says_which(scripts, tmp_path, capsys, dataset):
    """Every bad kind of this dataset in one file, between good rows: only the good ones are written, with their
    source positions as index, and stderr counts the bad ones and lists the first five with their lines."""
    bad = [bad_record(dataset, changes) for name, changes, _ in BAD_ROWS if name == dataset]
    good = GOOD_RECORDS[dataset][2]
    lines = [json.dumps(good)] + [json.dumps(record) for record in bad] + ["{broken", "", "[1, 2]", json.dumps(good)]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")

    rows, error = run_script(scripts, dataset, path, "--skip-bad-rows")
    assert error is None
    assert [row["extra_info"]["index"] for row in rows] == [0, len(bad) + 3]  # the blank line is no record
    assert all(ground_truth_problem(row["reward_model"]["ground_truth"]) is None for row in rows)
    report = capsys.readouterr().err
    assert f"{path}: skipped {len(bad) + 2} bad row(s) of {len(bad) + 4}:" in report
    assert report.count(f"\n  {path}:") == min(5, len(bad) + 2)
    assert f"{path}:2: " in report
    if len(bad) + 2 > 5:
        assert f"... and {len(bad) + 2 - 5} more" in report

    only_bad = tmp_path / "only_bad.jsonl"
    only_bad.write_text("\n".join(json.dumps(record) for record in bad) + "\n")
    assert run_script(scripts, dataset, only_bad, "--skip-bad-rows")[1] == f"error: {only_bad}: no usable rows"


@pytest.mark.parametrize(("dataset", "answer_field"), [("math500", "answer"), ("dapo", "solution"),
                                                       ("gsm8k", "answer")])
def test_a_number_answer_becomes_its_text(scripts, tmp_path, dataset, answer_field):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(bad_record(dataset, {answer_field: 38})) + "\n")
    rows, error = run_script(scripts, dataset, path)
    assert error is None and rows[0]["reward_model"]["ground_truth"] == "38"


def test_a_broken_json_line_is_named_by_its_own_line_number(scripts, tmp_path):
    """Blank lines count: the old reader numbered records, not lines."""
    path = tmp_path / "rows.jsonl"
    good = json.dumps(GOOD_RECORDS["math500"][2])
    path.write_text(f"{good}\n\n\n{good}\n{{\"problem\": \"x\", \"answer\": \n{good}\n")
    error = run_script(scripts, "math500", path)[1]
    assert f"{path}:5: not valid JSON (Expecting value at column 28)" in error
    assert "1 of 4 records" in error


def test_a_json_array_names_the_line_of_the_bad_element(scripts, tmp_path):
    good = GOOD_RECORDS["gsm8k"][2]
    path = tmp_path / "rows.json"
    path.write_text("[\n" + json.dumps(good) + ",\n\n" + json.dumps({**good, "answer": None}) + "\n]\n")
    assert f"{path}:4: field 'answer' is null" in run_script(scripts, "gsm8k", path)[1]
    path.write_text("[\n" + json.dumps(good) + ",\n" + json.dumps(good)[:-1] + "\n]\n")
    message = run_script(scripts, "gsm8k", path)[1]
    assert f"error: {path}:4: not valid JSON (Expecting ',' delimiter at column 1)" in message
    path.write_text("[\n" + json.dumps(good) + ",\n")
    assert "the array is never closed" in run_script(scripts, "gsm8k", path)[1]


def test_non_utf8_input_names_the_file_and_line(scripts, tmp_path):
    path = tmp_path / "rows.jsonl"
    good = json.dumps(GOOD_RECORDS["dapo"][2]).encode()
    path.write_bytes(good + b"\n" + good.replace(b"Find", b"Find \xff") + b"\n")
    assert run_script(scripts, "dapo", path)[1] == (f"error: {path}:2: not UTF-8 text (byte 0xff at column 18); save "
                                                    "the file as UTF-8")
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\n")  # a byte-order mark is fine
    assert run_script(scripts, "dapo", path)[0][0]["reward_model"]["ground_truth"] == "5"


def test_a_file_that_is_not_parquet_names_itself(scripts, tmp_path):
    path = tmp_path / "rows.parquet"
    path.write_text("not parquet")
    assert f"error: {path}: not a readable parquet file" in run_script(scripts, "dapo", path)[1]


def test_no_written_ground_truth_is_ever_a_null_or_a_repr(scripts, tmp_path):
    """A parquet input with nulls, as the hub's records have them: refused by record number, or left out."""
    good = GOOD_RECORDS["dapo"][2]
    table = pa.Table.from_pylist([good, {**good, "solution": None}, {**good, "prompt": None}, good])
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path)
    rows, error = run_script(scripts, "dapo", path)
    assert rows is None
    assert f"{path} record 1: field 'solution' is null" in error and f"{path} record 2: field 'prompt' is null" in error
    rows, _ = run_script(scripts, "dapo", path, "--skip-bad-rows")
    assert [row["reward_model"]["ground_truth"] for row in rows] == ["5", "5"]
    assert all("None" not in row["prompt"][0]["content"] for row in rows)


def test_unicode_line_separators_inside_a_question_are_text(scripts, tmp_path, capsys):
    """U+2028, U+2029 and U+0085 are legal inside JSON strings; only "\\n" ends a JSONL line. Splitting on them cut
    valid rows apart, reported the wrong lines and, with --skip-bad-rows, silently dropped good rows."""
    good = GOOD_RECORDS["math500"][2]
    odd = {**good, "problem": "Line one\u2028line two\u2029para\x85next: what is $2+3$?"}
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [odd, good, {**good, "answer": None}]) + "\n",
                    encoding="utf-8")
    error = run_script(scripts, "math500", path)[1]
    assert f"{path}: 1 of 3 records cannot become rows" in error and f"{path}:3: field 'answer' is null" in error
    rows, error = run_script(scripts, "math500", path, "--skip-bad-rows")
    assert error is None and len(rows) == 2
    assert rows[0]["extra_info"]["question"] == odd["problem"]
    assert f"skipped 1 bad row(s) of 3:\n  {path}:3: " in capsys.readouterr().err


def test_a_json_error_message_reads_once(scripts, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(GOOD_RECORDS["dapo"][2]) + '\n{"prompt": "Find $2+3$.\n')
    error = run_script(scripts, "dapo", path)[1]
    assert f"{path}:2: not valid JSON (Unterminated string starting at column 12)" in error  # was "... at at column"


@pytest.mark.parametrize("items", ["{good},,{good}", "{good},", ",{good}", "{good} {good}"])
def test_a_json_array_with_a_missing_doubled_or_trailing_comma_is_refused(scripts, tmp_path, items):
    path = tmp_path / "rows.json"
    path.write_text("[\n" + items.replace("{good}", json.dumps(GOOD_RECORDS["gsm8k"][2])) + "\n]\n")
    rows, error = run_script(scripts, "gsm8k", path)
    assert rows is None and error.startswith(f"error: {path}:") and "not valid JSON" in error


# What a source may hold as an answer, and what the evaluation's loader makes of it.
ANSWER_VALUES = [27.0, -4.0, 1e20, 112.5, 38, " 7 ", "\\frac{1}{2}", "None", " nan", "NULL", "", None, float("nan"),
                 float("inf"), True, [1, 2], {"a": 1}]


@pytest.mark.parametrize("value", ANSWER_VALUES, ids=repr)
def test_the_data_scripts_and_the_evaluation_agree_on_every_ground_truth(scripts, tmp_path, value):
    """One rule decides what a ground truth is and how it is written, in training data and evaluation alike: a
    float that is an integer is that integer (27.0 -> "27", as the packaged AMC 2023 answers), the text of a null
    is refused by both."""
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(bad_record("math500", {"answer": value})) + "\n")
    rows, _ = run_script(scripts, "math500", path)
    try:
        evaluation = check_record("x", "p", value, "row").answer
    except DataError:
        evaluation = None
    assert (rows and rows[0]["reward_model"]["ground_truth"]) == evaluation or (rows is None and evaluation is None)
    assert (evaluation is None) == (ground_truth_problem(value) is not None)


class EchoTokenizer:
    """Stands in for a tokenizer with a chat template: the rendered prompt is the messages themselves."""

    chat_template = "(echo)"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return json.dumps(messages)


def test_the_training_prompt_is_the_evaluation_prompt(scripts, tmp_path):
    problem = "  What is $2+3$?\n"  # surrounding whitespace, as some sources have it (AMC 2023 #36 ends in a space)
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(bad_record("math500", {"problem": problem})) + "\n")
    rows, _ = run_script(scripts, "math500", path)
    training = rows[0]["prompt"]
    assert json.loads(render_prompt(EchoTokenizer(), problem, "auto")) == training
    assert render_prompt(EchoTokenizer(), problem, "chatml") == CHATML.format(content=training[0]["content"])
    assert training == [{"role": "user", "content": f"{INSTRUCTION} What is $2+3$?"}]


# ======================================================================================================================
# Advantage estimator: verl's grpo numbers on every input grpo accepts, a named error on every input it refuses
# ======================================================================================================================
def grouped_batch(uids, seed=0):
    gen = torch.Generator().manual_seed(seed)
    bs = len(uids)
    rewards = torch.zeros(bs, 4)
    rewards[:, -1] = torch.randint(0, 2, (bs,), generator=gen).float() + torch.rand(bs, generator=gen)
    return rewards, torch.ones(bs, 4)


@pytest.mark.parametrize("uids", [
    np.array(["a", 1, "a", 1, 2.5, 2.5], dtype=object),  # mixed types: np.unique cannot sort them
    np.array([None, "b", None, "b", None, "b"], dtype=object),  # None is a uid like any other for grpo
    ["p", "q", "p", "q", "p", "q"],  # a plain list
    np.array([7, 7, 3, 3, 3, 9]),  # integer uids, with a singleton group beside real groups
    [(1, "x"), (2, "y"), (1, "x"), (2, "y"), (1, "x"), (3, "z")],  # tuple uids stay tuples
])
def test_uids_verl_grpo_accepts_give_grpo_numbers(uids):
    rewards, mask = grouped_batch(list(uids))
    expected, _ = compute_grpo_outcome_advantage(rewards.clone(), mask, uids)
    advantages, _ = get_adv_estimator_fn("abc_grpo")(rewards, mask, index=uids, config=None)
    torch.testing.assert_close(advantages, expected, rtol=1e-5, atol=1e-6)


def test_a_tensor_of_uids_groups_by_value():
    """verl passes a numpy array; a 1-D tensor is read by value (its elements as 0-d tensors would hash by identity,
    every response a group of its own), giving grpo's numbers for the same uids as a list."""
    uids = [0, 0, 1, 1, 1, 2]
    rewards, mask = grouped_batch(uids)
    expected, _ = compute_grpo_outcome_advantage(rewards.clone(), mask, np.array(uids))
    advantages, _ = get_adv_estimator_fn("abc_grpo")(rewards, mask, index=torch.tensor(uids), config=None)
    torch.testing.assert_close(advantages, expected, rtol=1e-5, atol=1e-6)


def test_integer_rewards_are_taken_as_floats():
    """verl's grpo fails inside torch.mean on int64 scores; the same rewards as floats give its numbers."""
    uids = np.array(["a", "a", "b", "b", "b"], dtype=object)
    rewards = torch.tensor([[0, 1], [0, 0], [0, 1], [0, 1], [0, 0]])
    mask = torch.ones(5, 2)
    expected, _ = compute_grpo_outcome_advantage(rewards.float(), mask, uids)
    advantages, _ = get_adv_estimator_fn("abc_grpo")(rewards, mask, index=uids, config=None)
    assert advantages.dtype == torch.float32
    torch.testing.assert_close(advantages, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("rewards", "mask", "index", "message"), [
    (torch.ones(4), torch.ones(4), ["a", "a", "b", "b"],
     r"token_level_rewards must have shape \(bs, response_length\), got \(4,\)"),
    (torch.ones(4, 3), torch.ones(4, 2), ["a", "a", "b", "b"],
     r"response_mask has shape \(4, 2\) but token_level_rewards has \(4, 3\)"),
    (torch.ones(4, 3), torch.ones(4, 3), ["a", "a", "b"], r"index has 3 uids but token_level_rewards has 4 responses"),
    (torch.ones(4, 3), torch.ones(4, 3), ["a", "a", "b", "b", "c"],
     r"index has 5 uids but token_level_rewards has 4 responses"),
    (torch.ones(2, 3), torch.ones(2, 3), [["a"], ["a"]], r"index\[0\]=\['a'\] is a list: prompt uids must be hashable"),
    (torch.ones(6, 3), torch.ones(6, 3), np.array([["a", "a", "b"], ["b", "c", "c"]], dtype=object),
     r"index must be 1-D \(one prompt uid per response\), got shape \(2, 3\)"),
    (torch.ones(4, 3), torch.ones(4, 3), np.array(["a", "a", np.nan, np.nan], dtype=object),
     r"index\[2\] is NaN: a NaN uid equals no other, so it cannot group responses"),
    (torch.ones(4, 3), torch.ones(4, 3), np.array([1.0, 1.0, float("nan"), 2.0]), r"index\[2\] is NaN"),
    (torch.ones(4, 3), torch.ones(4, 3), torch.zeros(2, 2), r"index must be 1-D .*, got shape \(2, 2\)"),
])
def test_inputs_it_refuses_are_named(rewards, mask, index, message):
    with pytest.raises(ValueError, match=message):
        get_adv_estimator_fn("abc_grpo")(rewards, mask, index=index, config=None)
