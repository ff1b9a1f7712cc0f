"""Reward: answer extraction and math-verify grading on a hand-written table, from the main thread and from worker
threads; the worker processes (deadline, kill, replacement, start errors, CPU limit); the grading budget against
independent digit and term counts; agreement with math-verify on the benchmarks' ground truths; the call the way
verl's naive reward manager makes it; loading without registering anything; and the reward benchmark's smoke run."""

import asyncio
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import math_verify
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from math_verify.errors import TimeoutException
from omegaconf import OmegaConf

from abc_grpo_verl import reward
from abc_grpo_verl.evaluation.data import load_benchmark, packaged_benchmarks
from abc_grpo_verl.reward import compute_score, extract_final_answer, grade_answer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
GSM8K = "openai/gsm8k"
MATH = "DigitalLearningGmbH/MATH-lighteval"
# Short, yet sympy works on it until math-verify's timeout stops it (about 5 s); without a timeout, for good.
# The grading budget refuses it before math-verify sees it; tests of what stands behind the budget turn it off.
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
    """Why answers are graded in worker processes' main threads: elsewhere math-verify's timeout refuses to work."""
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


@pytest.fixture
def own_pool(monkeypatch):
    """A worker pool of the test's own (closed after it), so that killed workers and changed settings stay in it;
    returns a function that installs a pool of the given size."""
    pools = []

    def install(size=2):
        pools.append(reward._WorkerPool(size))
        monkeypatch.setattr(reward, "_pool", pools[-1])
        return pools[-1]

    yield install
    for pool in pools:
        pool.close()


def without_budget(monkeypatch):
    """Send every answer to math-verify, the pathological ones too, to exercise what stands behind the budget."""
    monkeypatch.setattr(reward, "exceeds_grading_budget", lambda text: False)


def test_every_caller_grades_in_a_worker_process(monkeypatch, own_pool):
    """Main thread or not, math-verify never runs in the caller's process: the table grades the same although
    math-verify is broken here."""
    pool = own_pool(2)
    monkeypatch.setattr(reward, "parse", lambda *args, **kwargs: pytest.fail("parsed in the calling process"))
    expected = [equivalent for _, _, equivalent in GRADING]
    assert [grade_answer(answer, truth) for answer, truth, _ in GRADING] == expected
    assert in_thread(lambda: [grade_answer(answer, truth) for answer, truth, _ in GRADING]) == expected
    assert pool.idle and all(worker.process.pid != os.getpid() and worker.alive() for worker in pool.idle)


@pytest.mark.slow
def test_a_worker_past_its_deadline_is_killed_alone(monkeypatch, own_pool, caplog):
    """The tower keeps sympy busy well past a 1 s deadline: its worker is killed, the answer counted wrong, and the
    answers graded meanwhile by the other worker are all right."""
    pool = own_pool(2)
    without_budget(monkeypatch)
    monkeypatch.setattr(reward, "TASK_DEADLINE_S", 1.0)
    assert grade_answer("2", "2")  # one worker up
    with caplog.at_level(logging.WARNING, logger=reward.__name__), ThreadPoolExecutor(2) as threads:
        tower = threads.submit(grade_answer, POWER_TOWER, "3")
        time.sleep(0.2)  # the tower takes the idle worker; the loop below gets a new one
        others = [grade_answer(answer, truth) for answer, truth, _ in GRADING[:12] * 2]
        assert tower.result(timeout=60) is False
    assert others == [equivalent for _, _, equivalent in GRADING[:12]] * 2
    assert caplog.text.count("counted wrong, worker replaced") == 1 and POWER_TOWER in caplog.text
    assert len(pool.idle) == 1  # the survivor; the killed one was not put back


def test_an_idle_worker_that_died_is_replaced_before_it_takes_the_answer(own_pool, caplog):
    pool = own_pool(1)
    assert grade_answer("1/2", "0.5")
    (worker,) = pool.idle
    worker.process.kill()
    worker.process.wait()
    with caplog.at_level(logging.WARNING, logger=reward.__name__):
        assert grade_answer("1/2", "0.5") is True
    assert not caplog.text
    assert pool.idle[0] is not worker and pool.idle[0].alive()


def test_a_worker_that_cannot_start_is_a_clear_error(monkeypatch, own_pool, tmp_path):
    """Grading without a worker would give up the promise, so compute_score raises, naming the reason."""
    own_pool(1)
    broken = tmp_path / "math_verify"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('math-verify is broken here')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the worker, not this process, imports the broken copy
    with pytest.raises(reward.WorkerStartError, match="math-verify is broken here"):
        compute_score(data_source=MATH, solution_str="\\boxed{1}", ground_truth="1")
    monkeypatch.delenv("PYTHONPATH")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    with pytest.raises(reward.WorkerStartError, match="cannot start a grading worker .*no-python"):
        compute_score(data_source=MATH, solution_str="\\boxed{1}", ground_truth="1")


ORPHAN_WORKER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("worker", sys.argv[1])
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)
worker.TASK_CPU_LIMIT_S = 1
worker.serve_grading_requests()
"""


@pytest.mark.slow
def test_a_worker_stops_at_its_cpu_limit_even_without_its_parent():
    """A parent that dies cannot kill its worker; the kernel does, once the answer has used TASK_CPU_LIMIT_S of
    CPU time (here 1 s instead of 40 s; math-verify's own 5 s alarm never comes)."""
    worker = subprocess.Popen([sys.executable, "-c", ORPHAN_WORKER, reward.__file__], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        assert worker.stdout.readline() == b"ready\n"
        worker.stdin.write(json.dumps([POWER_TOWER, "3"]).encode() + b"\n")
        worker.stdin.flush()
        assert worker.wait(timeout=60) == -signal.SIGXCPU
    finally:
        worker.kill()
        worker.wait()


@pytest.mark.parametrize("error", [RuntimeError("sympy blew up"), TimeoutException("timed out"), RecursionError()])
def test_any_math_verify_failure_counts_as_wrong(monkeypatch, error):
    """What a worker runs; here in this process's main thread, where math-verify's timeout works too."""
    def failing_verify(*args, **kwargs):
        raise error

    monkeypatch.setattr(reward, "verify", failing_verify)
    assert reward._parse_and_verify("1", "1") is False


def test_overlong_and_empty_answers_are_wrong_without_a_worker(monkeypatch):
    monkeypatch.setattr(reward, "_workers", lambda: pytest.fail("sent to a worker"))
    assert grade_answer("1" * (reward.MAX_ANSWER_CHARS + 1), "1") is False
    assert grade_answer("  ", "1") is False and grade_answer(None, "1") is False


# (answer, why math-verify cannot compare it in bounded time; measured in docs/reward.md)
PAST_THE_BUDGET = [
    (POWER_TOWER, "exact power with 9^(9^9) digits"),
    ("9^{9^{9}}", "369 million digits"),
    ("10^{10^{10}}", "10^10 digits"),
    ("7^{10^{7}}", "8.5 million digits"),
    ("2^{10^{6}}", "301,030 digits"),
    ("10^{-10^{10}}", "its denominator"),
    ("\\frac{1}{10^{10^{10}}}", "its denominator"),
    ("1000000!", "5.6 million digits"),
    ("\\left(10^{9}\\right)!", "8.6 billion digits"),
    ("10!!", "(10!)! = 3628800!, as sympy reads it"),
    ("\\binom{10^{9}}{5\\cdot 10^{8}}", "300 million digits"),
    ("(x+1)^{100000}", "100,001 terms once expanded"),
    ("(x+1)^{500}", "501 terms, 1-2 s"),
    ("(x+1)^{100}", "101 terms, just past the limit"),
    ("(x+y+1)^{200}", "20,301 terms, over 5 s"),
    ("((x+1)(x-1))^{200}", "a product of sums, then a power"),
    ("(1+\\sqrt{2})^{10000}", "expansion of an irrational sum"),
    ("\\sqrt{x+1}^{1000}", "(x+1)^500"),
    ("\\sqrt{2}^{10^{10}}", "2^(5 * 10^9)"),
    ("\\sin(10^{10^{10}})", "the argument"),
    ("x = 9^{9^9}", "one side of an equation"),
    ("\\{1, 9^{9^{9}}\\}", "one element of a set"),
    ("9^9^9", "unbraced, read as 9^(9^9)"),
    ("2**10**8", "plain Python syntax"),
]
WITHIN_THE_BUDGET = [
    "5^{5^{5}}", "2^{10^{3}}", "x^{10^{9}}", "e^{10^{10}}", "\\sqrt[10^{9}]{2}", "(x+1)^{99}", "(1+\\sqrt{2})^{99}",
    "(x+y+1)^{12}", "(x+1)^{-99}", "(x+1)^{10^{10}/10^{10}}", "(x+1)^{1/2}", "(x+1)(x+2)(x+3)(x+4)(x+5)(x+6)",
    "1^{10^{10}}", "(-1)^{10^{100}}", "0^{10^{100}}", "5!!", "20000!", "\\binom{100}{50}", "\\pi^{1000}", "\\frac12",
    "(1,2)", "[0, 1) \\cup (2, 3]", "\\text{(C)}", "90^\\circ", "10^{-5}", "a_{10^{10^{10}}}", "1.5^{100}",
]


@pytest.mark.parametrize(("answer", "why"), PAST_THE_BUDGET)
def test_answers_past_the_grading_budget_are_recognised(answer, why):
    assert reward.exceeds_grading_budget(answer), why


@pytest.mark.parametrize("answer", WITHIN_THE_BUDGET)
def test_ordinary_and_large_but_cheap_answers_are_within_the_budget(answer):
    assert not reward.exceeds_grading_budget(answer)


@given(base=st.integers(2, 99), exponent=st.integers(1, 10**7))
def test_the_budget_of_a_power_is_its_digit_count(base, exponent):
    """Independent of the estimate's arithmetic: the digits of base^exponent, from logarithms."""
    digits = exponent * math.log10(base)
    assert reward.exceeds_grading_budget(f"{base}^{{{exponent}}}") == (digits > reward.MAX_EXACT_DIGITS)


@given(n=st.integers(0, 10**6))
def test_the_budget_of_a_factorial_is_its_digit_count(n):
    digits = math.lgamma(n + 1) / math.log(10)
    assert reward.exceeds_grading_budget(f"{n}!") == (digits > reward.MAX_EXACT_DIGITS)


@given(variables=st.integers(1, 3), exponent=st.integers(1, 2000))
def test_the_budget_of_an_expansion_is_its_term_count(variables, exponent):
    """(x_1 + ... + x_v + 1)^n expands to C(n + v, v) terms."""
    base = "+".join(["1", *"xyz"[:variables]])
    terms = math.comb(exponent + variables, variables)
    assert reward.exceeds_grading_budget(f"({base})^{{{exponent}}}") == (terms > reward.MAX_EXPANDED_TERMS)


def test_answers_past_the_budget_are_compared_as_text(monkeypatch):
    monkeypatch.setattr(reward, "_workers", lambda: pytest.fail("sent to a worker"))
    assert grade_answer("9^{9^{9^{9}}}", "9^{ 9^{9^{9}} }") is True
    assert grade_answer("9^{9^{9^{9}}}", "3") is False
    assert grade_answer("3", "(10^{9})!") is False


SHARED_BENCHMARKS = ROOT.parent / "shared" / "benchmarks"


def benchmark_ground_truths():
    """(benchmark, ground truth) of every problem the package ships (abc_grpo_verl/evaluation/benchmarks), and, where
    ../shared/benchmarks is beside the checkout (CI), of the sets it does not ship (HMMT, Minerva): their `answer`,
    or the boxed answer of a solution (Minerva has no answer column)."""
    truths = [(name, problem.answer) for name in packaged_benchmarks() for problem in load_benchmark(name).problems]
    for path in sorted(SHARED_BENCHMARKS.glob("*.jsonl")):
        if path.stem in packaged_benchmarks():
            continue
        for line in path.read_text().splitlines():
            record = json.loads(line)
            text = str(record.get("answer", record.get("solution")))
            truths.append((path.stem, text if "answer" in record else extract_final_answer(text, path.stem)))
    return truths


def test_no_benchmark_ground_truth_is_past_the_budget():
    truths = benchmark_ground_truths()
    assert len(truths) > 1900 and {name for name, _ in truths} >= {"aime24", "aime25", "amc23", "gsm8k", "math500"}
    assert [truth for _, truth in truths if reward.exceeds_grading_budget(truth)] == []


def test_graded_from_16_threads_the_reward_agrees_with_math_verify():
    """Benchmark answers against their own ground truth and against their neighbour's, in each benchmark's own
    notation: the verdicts from 16 threads (through the workers) equal math-verify's called here directly, in the
    main thread, with its own timeouts."""
    truths = [truth for _, truth in benchmark_ground_truths()][::40]
    pairs = [(answer, truth) for index, truth in enumerate(truths) for answer in (truth, truths[index - 1])]

    def math_verify_verdict(answer, truth):
        targets = (math_verify.LatexExtractionConfig(), math_verify.ExprExtractionConfig())
        gold, predicted = (math_verify.parse(f"\\boxed{{{text}}}", targets) for text in (truth, answer))
        return bool(gold and predicted and math_verify.verify(gold, predicted))

    expected = [math_verify_verdict(answer, truth) for answer, truth in pairs]
    with ThreadPoolExecutor(16) as threads:
        assert list(threads.map(lambda pair: grade_answer(*pair), pairs)) == expected
    assert 30 < sum(expected) < len(pairs) - 30  # both verdicts well represented


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


@pytest.mark.slow
def test_the_reward_benchmark_reports_every_scenario(tmp_path):
    """bench/bench_reward.py end to end on tiny batches (no timing asserted): every scenario is measured, and no
    ordinary answer is graded differently beside pathological ones."""
    command = [sys.executable, str(ROOT / "bench" / "bench_reward.py"), "--answers", "20", "--repeats", "1",
               "--threads", "4", "--out", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    rows = {row["scenario"]: row for row in json.loads((tmp_path / "reward.json").read_text())["rows"]}
    assert list(rows) == ["repeated", "repeated + 5% refused", "varied", "varied + 5% refused", "varied + 5% slow"]
    assert [row["answers"] for row in rows.values()] == [200, 200, 20, 20, 20]
    assert rows["repeated"]["ratio_to_batch"] == rows["varied"]["ratio_to_batch"] == 1.0
    assert all(row["grades_per_s"] > 0 and row["changed"] == 0 for row in rows.values())
    assert "| varied + 5% slow | 20 |" in (tmp_path / "reward.md").read_text()


def test_the_reward_benchmark_names_a_bad_flag():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_reward.py"), "--answers", "0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "--answers='0' is invalid: need an integer >= 1" in result.stderr
