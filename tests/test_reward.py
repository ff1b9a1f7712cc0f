"""Reward: answer extraction and math-verify grading on a hand-written table, from the main thread and from worker
threads (through the spawned grading pool, with its deadline), called the way verl's naive reward manager calls it,
and loaded without registering anything."""

import asyncio
import logging
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import math_verify
import numpy as np
import pytest
import torch
from math_verify.errors import TimeoutException
from omegaconf import OmegaConf

from abc_grpo_verl import reward
from abc_grpo_verl.reward import compute_score, extract_final_answer, grade_answer

GSM8K = "openai/gsm8k"
MATH = "DigitalLearningGmbH/MATH-lighteval"
# Short, yet sympy works on it until math-verify's timeout stops it (about 5 s); without a timeout, for good.
POWER_TOWER = "9^{9^{9^{9}}}"

# (response, data_source, extracted answer)
EXTRACTION = [
    ("The answer is $\\boxed{42}$.", MATH, "42"),
    ("First \\boxed{1}, then correcting: \\boxed{2}", MATH, "2"),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", MATH, "\\frac{\\sqrt{3}}{2}"),
    ("\\boxed{\\{1, 2\\}}", MATH, "\\{1, 2\\}"),
    ("set $\\boxed{\\left\\{ x \\right.}$", MATH, "\\left\\{ x \\right."),
    ("\\fbox{7}", MATH, "7"),
    ("\\boxed {  x = 3 }", MATH, "x = 3"),
    ("\\boxed{5} and then the text was cut off: \\boxed{1", MATH, None),
    ("\\boxed{}", MATH, None),
    ("The answer is 42.", MATH, None),
    ("", MATH, None),
    ("She has 3 + 4 = 7 apples.\n#### 7", GSM8K, "7"),
    ("#### 1,234", GSM8K, "1234"),
    ("#### -3.5", GSM8K, "-3.5"),
    ("#### 5\nOn reflection, #### 6", GSM8K, "6"),
    ("#### 5 but formatted \\boxed{6}", GSM8K, "6"),
    ("#### 7", MATH, None),
    ("#### 7", None, None),
    ("#### 7", "gsm8k_local_copy", "7"),
]

# (answer, ground truth, equivalent)
GRADING = [
    ("\\frac{1}{2}", "0.5", True),
    ("0.5", "\\frac{1}{2}", True),
    ("\\dfrac{1}{2}", "\\frac12", True),
    ("1/2", "\\frac{1}{2}", True),
    ("1,000", "1000", True),
    ("1000", "1,000", True),
    ("72", "72.0", True),
    ("x = 5", "5", True),
    ("\\frac{\\sqrt3}{2}", "\\frac{\\sqrt{3}}{2}", True),
    ("(x+1)^2", "x^2+2x+1", True),
    ("\\{2, 1\\}", "\\{1, 2\\}", True),
    ("90^\\circ", "90", True),
    ("5\\text{ cm}", "5", True),
    ("\\text{(C)}", "C", True),
    ("9\\pi", "9\\pi", True),
    ("3", "4", False),
    ("-5", "5", False),
    ("0.3333", "\\frac{1}{3}", False),
    ("\\pi", "3.14159", False),
    ("(2, -1)", "(-1, 2)", False),
    ("x^2", "x^3", False),
    ("\\frac{", "1", False),
    ("", "1", False),
    (None, "1", False),
]


@pytest.mark.parametrize(("response", "data_source", "expected"), EXTRACTION)
def test_extract_final_answer(response, data_source, expected):
    assert extract_final_answer(response, data_source) == expected


@pytest.mark.parametrize(("answer", "ground_truth", "expected"), GRADING)
def test_grade_answer(answer, ground_truth, expected):
    assert grade_answer(answer, ground_truth) is expected


@pytest.mark.parametrize(("data_source", "response", "ground_truth", "score", "pred"), [
    (MATH, "... so $x = \\boxed{\\dfrac{3}{4}}$.", "\\frac{3}{4}", 1.0, "\\dfrac{3}{4}"),
    (MATH, "... so $x = \\boxed{\\dfrac{4}{3}}$.", "\\frac{3}{4}", 0.0, "\\dfrac{4}{3}"),
    (MATH, "I think it is 3/4.", "\\frac{3}{4}", 0.0, ""),
    (GSM8K, "6 * 12 = 72 rolls, 72 - 50 = 22.\n#### 22", "22", 1.0, "22"),
    (GSM8K, "Total: \\boxed{1,200} dollars", "1200", 1.0, "1,200"),
    (GSM8K, "The answer is 22.", "22", 0.0, ""),
    ("open-r1/DAPO-Math-17k-Processed", "Hence $n=\\boxed{38}$", "38", 1.0, "38"),
    ("open-r1/DAPO-Math-17k-Processed", "Hence $n=\\boxed{38}$", 38, 1.0, "38"),
])
def test_compute_score(data_source, response, ground_truth, score, pred):
    result = compute_score(data_source=data_source, solution_str=response, ground_truth=ground_truth)
    assert result == {"score": score, "acc": score == 1.0, "pred": pred}
    assert type(result["score"]) is float and type(result["acc"]) is bool


def test_verl_calling_convention_with_extra_keywords():
    """verl passes everything by keyword, plus reward_kwargs and (with a reward model) router arguments."""
    result = compute_score(data_source=MATH, solution_str="\\boxed{2}", ground_truth="2",
                           extra_info={"split": "test", "index": 3, "num_turns": 2, "rollout_reward_scores": {}},
                           reward_router_address="127.0.0.1:1", reward_model_tokenizer=None, format_bonus=0.5)
    assert result["score"] == 1.0


def test_signal_timeouts_fail_off_the_main_thread():
    """Why grade_answer disables math-verify's timeout outside the main thread: with it, math-verify refuses."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(math_verify.parse, "\\boxed{1}", parsing_timeout=5)
        with pytest.raises(ValueError, match="threaded environment"):
            future.result()


def test_the_answer_table_grades_the_same_from_worker_threads():
    def grade_all():
        return [grade_answer(answer, truth) for answer, truth, _ in GRADING]

    expected = [equivalent for _, _, equivalent in GRADING]
    assert grade_all() == expected
    with ThreadPoolExecutor(4) as pool:
        assert all(result == expected for result in pool.map(lambda _: grade_all(), range(4)))


def in_thread(function, *args, **kwargs):
    """`function(*args, **kwargs)` called from a fresh (non-main) thread, which must finish within a minute."""
    results = []
    thread = threading.Thread(target=lambda: results.append(function(*args, **kwargs)))
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "grading from a worker thread did not finish"
    return results[0]


def test_the_main_thread_grades_in_place_and_other_threads_in_the_pool(monkeypatch):
    """The main thread calls math-verify itself, with its timeout; a worker thread hands the same call, timeout
    included, to the pool, whose child runs it in its main thread (where the timeout works)."""
    seen = []

    def recording_parse(text, targets, parsing_timeout):
        seen.append(parsing_timeout)
        return math_verify.parse(text, targets, parsing_timeout=parsing_timeout)

    monkeypatch.setattr(reward, "parse", recording_parse)
    assert grade_answer("1", "1")
    assert seen == [reward.MATH_VERIFY_TIMEOUT_S] * 2

    submitted = []

    class RecordingPool:
        def apply_async(self, function, args):
            submitted.append(args)
            return SimpleNamespace(get=lambda timeout: True)

    monkeypatch.setattr(reward, "_pool", RecordingPool())
    assert in_thread(grade_answer, "1", "2")  # the recording pool's verdict, not math-verify's
    assert submitted == [("1", "2", reward.MATH_VERIFY_TIMEOUT_S)]
    assert seen == [reward.MATH_VERIFY_TIMEOUT_S] * 2  # nothing parsed in this process


def test_a_pathological_answer_from_a_worker_thread_times_out_in_the_pool():
    """Off the main thread without the pool, this never returns (big-integer work, no timeout). In the pool the
    child's own math-verify timeout ends it, well within the deadline, and the pool keeps serving meanwhile."""
    assert in_thread(grade_answer, "2", "2")
    pool = reward._pool
    start = time.monotonic()
    with ThreadPoolExecutor(2) as threads:
        slow = threads.submit(compute_score, data_source="x", solution_str=f"\\boxed{{{POWER_TOWER}}}",
                              ground_truth="3")
        quick = threads.submit(grade_answer, "\\frac{1}{2}", "0.5")
        assert quick.result(timeout=60) is True
        assert slow.result(timeout=60) == {"score": 0.0, "acc": False, "pred": POWER_TOWER}
    assert time.monotonic() - start < reward.POOL_DEADLINE_S
    assert reward._pool is pool  # no deadline miss: math-verify's timeout worked in the child


def test_a_missed_deadline_counts_wrong_and_replaces_the_pool(monkeypatch, caplog):
    assert in_thread(grade_answer, "2", "2")
    old_pool = reward._pool
    monkeypatch.setattr(reward, "POOL_DEADLINE_S", 0.2)
    with caplog.at_level(logging.WARNING, logger=reward.__name__):
        assert in_thread(grade_answer, POWER_TOWER, "3") is False
    assert "grading pool replaced" in caplog.text
    assert reward._pool is None
    with pytest.raises(ValueError, match="Pool not running"):
        old_pool.apply_async(abs, (-1,))  # terminated, its stuck worker with it

    monkeypatch.undo()
    assert in_thread(grade_answer, "1/2", "\\frac{1}{2}") is True
    assert in_thread(grade_answer, "1/3", "\\frac{1}{2}") is False
    assert reward._pool is not None and reward._pool is not old_pool


def test_without_a_pool_worker_threads_grade_in_place_after_one_warning(monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(reward, "_SPAWN", SimpleNamespace(Pool=refuse))
    monkeypatch.setattr(reward, "_pool", None)
    monkeypatch.setattr(reward, "_pool_unavailable", False)
    with caplog.at_level(logging.WARNING, logger=reward.__name__):
        assert in_thread(grade_answer, "1/2", "0.5") is True
        assert in_thread(grade_answer, "3", "4") is False
    assert caplog.text.count("Cannot start the math-verify grading pool") == 1


DAEMON_PROBE = """
import multiprocessing, threading
from abc_grpo_verl.reward import grade_answer

def grade_from_a_thread(results):
    thread = threading.Thread(target=lambda: results.put(grade_answer("1/2", "0.5")))
    thread.start()
    thread.join()

results = multiprocessing.get_context("fork").Queue()
daemon = multiprocessing.get_context("fork").Process(target=grade_from_a_thread, args=(results,), daemon=True)
daemon.start()
print(results.get(timeout=60))
daemon.join()
"""


def test_a_daemonic_process_cannot_start_the_pool_and_grades_in_place():
    """multiprocessing forbids daemonic processes to have children: the pool's creation fails there."""
    result = subprocess.run([sys.executable, "-c", DAEMON_PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert "Cannot start the math-verify grading pool" in result.stderr


@pytest.mark.parametrize("error", [RuntimeError("sympy blew up"), TimeoutException("timed out"), RecursionError()])
def test_any_math_verify_failure_counts_as_wrong(monkeypatch, error):
    def failing_verify(*args, **kwargs):
        raise error

    monkeypatch.setattr(reward, "verify", failing_verify)
    assert grade_answer("1", "1") is False
    assert compute_score(data_source=MATH, solution_str="\\boxed{1}", ground_truth="1")["score"] == 0.0


def test_overlong_answers_are_wrong_without_parsing(monkeypatch):
    monkeypatch.setattr(reward, "parse", lambda *args, **kwargs: pytest.fail("parsed an over-long answer"))
    assert grade_answer("1" * (reward.MAX_ANSWER_CHARS + 1), "1") is False


class CharTokenizer:
    """Token id = code point: enough for a reward manager, which only decodes responses."""

    @staticmethod
    def encode(text):
        return [ord(char) for char in text]

    @staticmethod
    def decode(ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids.tolist() if i > 0)


def test_verls_naive_reward_manager_scores_through_its_thread_pool():
    """The real call path: verl loads the function from the config, the naive manager decodes the response and
    calls it with keywords from its executor thread (where math-verify's signal timeout cannot work)."""
    from verl import DataProto
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.trainer.ppo.reward import get_custom_reward_fn

    config = OmegaConf.create({"reward": {"custom_reward_function": {
        "path": "pkg://abc_grpo_verl.reward", "name": "compute_score", "reward_kwargs": {}}}})
    threads = []

    def spying_score(**kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return get_custom_reward_fn(config)(**kwargs)

    def batch(response, ground_truth, data_source):
        prompt, ids = [1, 2], CharTokenizer.encode(response)
        length = len(ids) + 4  # right padding after the response
        responses = torch.zeros(1, length, dtype=torch.long)
        responses[0, :len(ids)] = torch.tensor(ids)
        mask = torch.zeros(1, len(prompt) + length, dtype=torch.long)
        mask[0, :len(prompt) + len(ids)] = 1
        return DataProto.from_dict(
            tensors={"prompts": torch.tensor([prompt]), "responses": responses, "attention_mask": mask},
            non_tensors={"data_source": np.array([data_source], dtype=object),
                         "reward_model": np.array([{"ground_truth": ground_truth, "style": "rule"}], dtype=object),
                         "extra_info": np.array([{"index": 0, "split": "test"}], dtype=object)},
        )

    async def score(data):
        manager = NaiveRewardManager(config=config, tokenizer=CharTokenizer(), compute_score=spying_score)
        return await manager.run_single(data)

    right = asyncio.run(score(batch("so $\\boxed{\\frac{1}{2}}$", "0.5", MATH)))
    assert right["reward_score"] == 1.0
    assert right["reward_extra_info"] == {"score": 1.0, "acc": True, "pred": "\\frac{1}{2}"}
    wrong = asyncio.run(score(batch("#### 21", "22", GSM8K)))
    assert wrong["reward_score"] == 0.0 and wrong["reward_extra_info"]["pred"] == "21"
    assert threads == [False, False]


def test_loading_the_reward_never_registers_anything(tmp_path):
    """verl's pkg:// path imports the module by name; a file path executes a fresh copy. Neither may touch verl's
    registries (a second registration of the abc_grpo estimator raises), and the module must not import verl."""
    from verl.trainer.ppo import core_algos
    from verl.utils.import_utils import load_extern_object

    estimators, losses = dict(core_algos.ADV_ESTIMATOR_REGISTRY), dict(core_algos.POLICY_LOSS_REGISTRY)
    assert load_extern_object("pkg://abc_grpo_verl.reward", "compute_score") is compute_score
    by_file = load_extern_object(f"file://{reward.__file__}", "compute_score")
    assert by_file is not compute_score
    assert by_file(data_source=MATH, solution_str="\\boxed{3}", ground_truth="3")["score"] == 1.0
    # Off the main thread the copy grades in its own pool, whose children import the package's module instead.
    assert in_thread(by_file, data_source=MATH, solution_str="\\boxed{3}", ground_truth="3")["score"] == 1.0
    assert core_algos.ADV_ESTIMATOR_REGISTRY == estimators and core_algos.POLICY_LOSS_REGISTRY == losses

    probe = ("import sys, abc_grpo_verl.reward; "
             "print(sorted(m for m in sys.modules if m == 'verl' or m.startswith(('verl.', 'abc_grpo_verl.'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['abc_grpo_verl.reward']"
