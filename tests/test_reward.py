"""Reward: answer extraction and math-verify grading on a hand-written table, from the main thread and from worker
threads; the worker processes (deadline, kill, replacement, start retries and errors, CPU and memory limits, exit and
fork); the grading budget against independent digit and term counts; agreement with math-verify on the benchmarks'
ground truths, and with math-verify and verl's own scorers on realistic responses; the call the way verl's naive
reward manager makes it; loading without registering anything; and the reward benchmark's smoke run."""

import asyncio
import contextlib
import json
import logging
import math
import os
import re
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
from abc_grpo_verl.answers import exact_repeating_decimals
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
    ("3 * 6 = $18.\n#### $18", GSM8K, "18"),
    ("#### \\$ 1,200.50", GSM8K, "1200.50"),
    ("#### 5\nOn reflection, #### 6", GSM8K, "6"),
    ("#### 5 but formatted \\boxed{6}", GSM8K, "6"),
    ("#### 7", MATH, None),
    ("#### 7", None, None),
    ("#### 7", "gsm8k_local_copy", "7"),
    # TeX's brace-less argument: the box holds the one token after the space (verl's math_reward.py reads the form)
    ("\\boxed 5", MATH, "5"),
    ("So $\\boxed 5$.", MATH, "5"),
    ("the answer is \\boxed 12.", MATH, "12"),
    ("\\boxed 7, no: \\boxed 8", MATH, "8"),
    # read only without a braced box: a braced answer wins over any brace-less form, before or after it (a later
    # "\\boxed" in prose replaced it)
    ("\\boxed{3}, no: \\boxed 7", MATH, "3"),
    ("\\boxed 7, no: \\boxed{3}", MATH, "3"),
    ("\\boxed 7, then cut off: \\boxed{3", MATH, None),
    ("\\boxed{5}. I used \\boxed as asked.", MATH, "5"),
    ("\\boxed{\\fbox 3}", MATH, "\\fbox 3"),
    # a boxed answer is kept as written (grading maps full-width forms on both sides); a GSM8K number is read in
    # the mapped text
    ("\\boxed{５}", MATH, "５"),
    ("\\boxed{x²}", MATH, "x²"),
    ("#### ４２", GSM8K, "42"),
    # GSM8K: an explicit plus sign, thousands separated by spaces (SI style, also thin spaces) only in groups of 3
    ("#### +18", GSM8K, "18"),
    ("#### 1 000", GSM8K, "1000"),
    ("#### 12\u2009345.5", GSM8K, "12345.5"),
    ("#### 18 2", GSM8K, "18"),
    ("#### 1 0000", GSM8K, "1"),
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
    # a repeating decimal is its exact fraction (math-verify alone reads the bar as a factor)
    ("0.\\overline{3}", "\\frac{1}{3}", True),
    ("\\frac{1}{6}", "0.1\\overline{6}", True),
    ("-1.2\\overline{45}", "-\\frac{137}{110}", True),
    ("0.\\overline{3}", "\\frac{1}{4}", False),
    ("0.\\overline{9}", "1", True),
    # its sign stays in the text: a sum stays a sum (the sign was taken and dropped, 1/2 + 1/3 graded as 1/6)
    ("x+0.\\overline{3}", "x+\\frac{1}{3}", True),
    ("x+0.\\overline{3}", "x-\\frac{1}{3}", False),
    ("x+0.\\overline{3}", "x\\frac{1}{3}", False),
    ("\\frac12+0.\\overline{3}", "\\frac{5}{6}", True),
    ("\\frac{1}{2}+0.\\overline{3}", "\\frac{5}{6}", True),
    ("\\frac{1}{2}+0.\\overline{3}", "\\frac{1}{6}", False),
    ("-0.\\overline{3}", "-\\frac{1}{3}", True),
    ("2^0.\\overline{3}", "2^{1/3}", True),
    # not a repeating decimal after a number or a name: left as written, equal to none of its misreadings
    ("1.2.\\overline{3}", "\\frac{7}{3}", False),
    ("1.2.\\overline{3}", "\\frac{37}{30}", False),
    ("AB.\\overline{12}", "AB\\frac{4}{33}", False),
    ("AB.\\overline{12}", "\\frac{4}{33}", False),
    # full-width forms are their ASCII letters (a reader sees 5), on either side; only those: x² is not x2
    ("５", "5", True),
    ("－１２", "-12", True),
    ("12", "１２", True),
    ("x²", "x2", False),
    # a full-width ground truth equals its own text, as it did before any mapping
    ("５", "５", True),
    ("（1,2）", "（1,2）", True),
    ("５个", "５个", True),
    ("(1,2)", "（1,2）", True),
    ("５\u3000个", "5 个", True),
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


RESPONSE_TEXT = "a str, the decoded response text"
SOURCE_TEXT = "a str or None, the row's data_source"


@pytest.mark.parametrize(("argument", "value", "message"), [
    ("solution_str", None, f"solution_str must be {RESPONSE_TEXT}; got a NoneType (None)"),
    ("solution_str", 42, f"solution_str must be {RESPONSE_TEXT}; got a int (42)"),
    ("solution_str", b"\\boxed{1}", f"solution_str must be {RESPONSE_TEXT}; got a bytes (b'\\\\boxed{{1}}')"),
    ("data_source", 7, f"data_source must be {SOURCE_TEXT}; got a int (7)"),
    ("data_source", ["gsm8k"], f"data_source must be {SOURCE_TEXT}; got a list (['gsm8k'])"),
])
def test_an_argument_of_the_wrong_type_is_a_type_error_naming_it(argument, value, message):
    """Each message says what that argument is (the response text's hint was also given for a bad data_source)."""
    arguments = {"data_source": MATH, "solution_str": "\\boxed{1}", "ground_truth": "1", argument: value}
    with pytest.raises(TypeError) as error:
        compute_score(**arguments)
    assert str(error.value) == f"compute_score: {message}"


@pytest.mark.parametrize(("response", "ground_truth"), [("\\boxed{５}", "５"), ("\\boxed{（1,2）}", "（1,2）"),
                                                       ("\\boxed{５个}", "５个"), ("\\boxed{５}", "5"),
                                                       ("\\boxed{5}", "５")])
def test_full_width_forms_are_mapped_on_both_sides(response, ground_truth):
    """Only the answer was mapped: a full-width ground truth then scored 0.0 against its own text."""
    assert compute_score(data_source=MATH, solution_str=response, ground_truth=ground_truth)["score"] == 1.0


@pytest.mark.parametrize(("text", "rewritten"), [
    ("0.\\overline{3}", "{\\frac{1}{3}}"),
    ("-1.2\\overline{45}", "-{\\frac{137}{110}}"),
    ("x+0.\\overline{3}", "x+{\\frac{1}{3}}"),
    ("\\frac12+0.\\overline{3}", "\\frac12+{\\frac{1}{3}}"),
    (".\\overline{6}", "{\\frac{2}{3}}"),
    ("1.2.\\overline{3}", "1.2.\\overline{3}"),
    ("AB.\\overline{12}", "AB.\\overline{12}"),
])
def test_a_repeating_decimal_becomes_a_braced_fraction_and_keeps_its_sign(text, rewritten):
    """0.1(6) by hand: 1/10 + 6/90 = 1/6; 1.2(45) = 12/10 + 45/990 = 137/110; only after a boundary."""
    assert exact_repeating_decimals(text) == rewritten


def test_a_data_source_of_none_is_no_source():
    assert compute_score(data_source=None, solution_str="\\boxed{1}", ground_truth="1")["score"] == 1.0


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
    """Send every answer to math-verify with its full timeouts, the pathological ones too, to exercise what stands
    behind the budget."""
    monkeypatch.setattr(reward, "grading_cost", lambda text: reward.GradingCost.ORDINARY)


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


def test_a_worker_that_cannot_start_is_a_clear_error(monkeypatch, own_pool, tmp_path, caplog):
    """Grading without a worker would give up the promise, so compute_score raises, naming the reason, once every
    attempt has failed (each failed attempt is logged)."""
    own_pool(1)
    monkeypatch.setattr(reward, "WORKER_START_BACKOFF_S", 0.01)
    broken = tmp_path / "math_verify"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('math-verify is broken here')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the worker, not this process, imports the broken copy
    with caplog.at_level(logging.WARNING, logger=reward.__name__), \
            pytest.raises(reward.WorkerStartError, match=r"math-verify is broken here(.|\n)*\(attempt 3 of 3\)"):
        compute_score(data_source=MATH, solution_str="\\boxed{1}", ground_truth="1")
    assert ["math-verify is broken here" in record.getMessage() for record in caplog.records] == [True, True]
    assert "(attempt 1 of 3); trying again in 0.01 s" in caplog.text and "(attempt 2 of 3)" in caplog.text
    monkeypatch.delenv("PYTHONPATH")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    with pytest.raises(reward.WorkerStartError, match="cannot start a grading worker .*no-python"):
        compute_score(data_source=MATH, solution_str="\\boxed{1}", ground_truth="1")


def test_a_failed_worker_start_is_retried_with_backoff(monkeypatch, own_pool, caplog):
    """One transient failure (a loaded node refusing a process for a moment) costs a logged retry, not the run."""
    own_pool(1)
    monkeypatch.setattr(reward, "WORKER_START_BACKOFF_S", 0.05)
    real_popen, calls, pauses = subprocess.Popen, [], []

    def popen_failing_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_popen(*args, **kwargs)

    real_sleep = time.sleep
    monkeypatch.setattr(subprocess, "Popen", popen_failing_once)
    monkeypatch.setattr(reward.time, "sleep", lambda seconds: (pauses.append(seconds), real_sleep(seconds)))
    with caplog.at_level(logging.WARNING, logger=reward.__name__):
        assert grade_answer("1/2", "0.5") is True
    assert len(calls) == 2 and pauses == [0.05]
    assert "Resource temporarily unavailable (attempt 1 of 3); trying again in 0.05 s" in caplog.text


ORPHAN_WORKER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("worker", sys.argv[1])
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)
worker.TASK_CPU_LIMIT_S = 1
worker.serve_grading_requests(0)
"""


@pytest.mark.slow
def test_a_worker_stops_at_its_cpu_limit_even_without_its_parent():
    """A parent that dies cannot kill its worker; the kernel does, once the answer has used TASK_CPU_LIMIT_S of
    CPU time (here 1 s instead of 40 s; math-verify's own 5 s alarm never comes)."""
    worker = subprocess.Popen([sys.executable, "-c", ORPHAN_WORKER, reward.__file__], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        assert worker.stdout.readline() == b"ready\n"
        worker.stdin.write(json.dumps([POWER_TOWER, "3", 5]).encode() + b"\n")
        worker.stdin.flush()
        assert worker.wait(timeout=60) == -signal.SIGXCPU
    finally:
        worker.kill()
        worker.wait()


# Helpers for the probes below, which run in their own interpreter (Linux: they read /proc).
PROC_HELPERS = """
import os

def children():
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
            found.append(int(entry))
    return found

def pipes(pid, skip=(1, 2)):
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if int(fd) not in skip and target.startswith("pipe:"):
            found.add(target)
    return found
"""

# A process that exits while a daemon thread's answer (a tower, past the budget's back) is in a worker, which
# math-verify's timeout (raised to 30 s) leaves busy with it for 30 s.
EXIT_PROBE = PROC_HELPERS + """
import sys, threading, time
from abc_grpo_verl import reward
reward.grading_cost = lambda text: reward.GradingCost.ORDINARY
reward.MATH_VERIFY_TIMEOUT_S, reward.TASK_DEADLINE_S = 30, 100
assert reward.grade_answer("1", "1")
threading.Thread(target=reward.grade_answer, args=(sys.argv[1], "3"), daemon=True).start()
time.sleep(1)
print(*children(), flush=True)
"""


def running(pid):
    """Whether `pid` is a process that has not ended (a zombie waiting for its reaper has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads processes from /proc (Linux)")
def test_no_worker_outlives_its_process():
    """A worker busy with a daemon thread's answer at exit is killed with the process. Before, it lived on until
    math-verify's timeout, holding the process's stderr open (so that capture_output waited for it), then wrote a
    BrokenPipeError traceback."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", EXIT_PROBE, POWER_TOWER], capture_output=True, text=True,
                            timeout=300)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-3000:]
    (worker,) = map(int, result.stdout.split())
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
    assert elapsed < 20  # the worker's 30 s were not waited for
    deadline = time.monotonic() + 10
    while running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(worker)


# A fork while one worker is idle and another busy: the child must hold none of their pipes (else a worker never
# sees its input end when the parent exits), and grades with workers of its own.
FORK_PROBE = PROC_HELPERS + """
import json, sys, threading, time
from abc_grpo_verl import reward
reward.grading_cost = lambda text: reward.GradingCost.ORDINARY
reward._pool = reward._WorkerPool(2)
assert reward.grade_answer("1", "1")
threading.Thread(target=reward.grade_answer, args=(sys.argv[1], "3"), daemon=True).start()
time.sleep(1)
assert reward.grade_answer("2", "2")
workers = children()
worker_pipes = set().union(*(pipes(pid) for pid in workers))
pid = os.fork()
if pid == 0:
    leaked = sorted(pipes(os.getpid(), skip=(0, 1, 2)) & worker_pipes)
    graded = reward.grade_answer("1/2", "0.5")
    os.write(1, (json.dumps({"workers": len(workers), "leaked": leaked, "graded": graded}) + "\\n").encode())
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads processes from /proc (Linux)")
def test_a_forked_child_holds_none_of_its_parents_workers():
    result = subprocess.run([sys.executable, "-c", FORK_PROBE, POWER_TOWER], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == {"workers": 2, "leaked": [], "graded": True}
    assert "Traceback" not in result.stderr


def worker_limits(pid):
    """The soft limits of process `pid` as the kernel reports them: {"Max address space": "268435456", ...}."""
    lines = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {line[:26].strip(): line[26:47].strip() for line in lines}


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads the limits from /proc (Linux)")
@pytest.mark.parametrize(("setting", "expected"), [(None, str(reward.WORKER_MEMORY_MB << 20)),
                                                   ("512", str(512 << 20)), ("0", "unlimited")])
def test_a_worker_limits_its_memory(monkeypatch, own_pool, setting, expected):
    pool = own_pool(1)
    if setting is None:
        monkeypatch.delenv(reward.WORKER_MEMORY_ENV, raising=False)
    else:
        monkeypatch.setenv(reward.WORKER_MEMORY_ENV, setting)
    assert grade_answer("2", "2")
    assert worker_limits(pool.idle[0].process.pid)["Max address space"] == expected


@pytest.mark.parametrize("setting", ["", "lots", "-1", "2.5", "64", " 1e3"])
def test_a_bad_memory_limit_is_named(monkeypatch, own_pool, setting):
    own_pool(1)
    monkeypatch.setenv(reward.WORKER_MEMORY_ENV, setting)
    message = (f"environment variable ABC_GRPO_REWARD_WORKER_MEMORY_MB={setting!r} is invalid: need a whole number "
               "of MiB, 0 (no limit) or at least 128; unset, it is 2048")
    with pytest.raises(ValueError, match=re.escape(message)):
        compute_score(data_source=MATH, solution_str="\\boxed{1}", ground_truth="1")


@pytest.mark.slow
def test_an_answer_that_runs_a_worker_out_of_memory_costs_that_answer_only(monkeypatch, own_pool, caplog):
    """2^{10^9} (125 MB as an integer) against a 256 MiB limit: sympy's allocation fails, the answer counts wrong, the
    worker that grew past half its limit is replaced, and the answers after it are graded right."""
    pool = own_pool(1)
    without_budget(monkeypatch)
    monkeypatch.setenv(reward.WORKER_MEMORY_ENV, "256")
    assert grade_answer("1/2", "0.5") is True
    (first,) = pool.idle
    with caplog.at_level(logging.WARNING, logger=reward.__name__):
        assert grade_answer("2^{10^{9}}", "3") is False
    assert "ran out of memory or near its limit (ABC_GRPO_REWARD_WORKER_MEMORY_MB=256 MiB)" in caplog.text
    assert "2^{10^{9}}" in caplog.text and not first.alive()
    assert [grade_answer(answer, truth) for answer, truth, _ in GRADING[:8]] == [True] * 8
    assert pool.idle[0] is not first


@pytest.mark.parametrize("error", [RuntimeError("sympy blew up"), TimeoutException("timed out"), RecursionError()])
def test_any_math_verify_failure_counts_as_wrong(monkeypatch, error):
    """What a worker runs; here in this process's main thread, where math-verify's timeout works too."""
    def failing_verify(*args, **kwargs):
        raise error

    monkeypatch.setattr(reward, "verify", failing_verify)
    assert reward._parse_and_verify("1", "1") is False


def test_a_memory_error_reaches_the_worker_loop(monkeypatch):
    """...except a MemoryError, on which the worker answers 0 and retires (tested through a real worker above)."""
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(reward, "verify", exhausted)
    with pytest.raises(MemoryError):
        reward._parse_and_verify("1", "1")


def test_overlong_and_empty_answers_are_wrong_without_a_worker(monkeypatch):
    monkeypatch.setattr(reward, "_workers", lambda: pytest.fail("sent to a worker"))
    assert grade_answer("1" * (reward.MAX_ANSWER_CHARS + 1), "1") is False
    assert grade_answer("  ", "1") is False and grade_answer(None, "1") is False


# (answer, why math-verify cannot compare it in bounded time; measured in docs/reward.md)
REFUSED = [
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
    ("\\Gamma(10^{9})", "(10^9 - 1)!"),
    ("\\Gamma\\left(25207\\right)", "25206! has 100,000.08 digits"),
    ("\\binom{10^{9}}{5\\cdot 10^{8}}", "300 million digits"),
    ("(2x)^{10^{7}}", "sympy raises both factors at once: 2^(10^7), 3 million digits"),
    ("\\sum\\limits_{k=10^{10^{10}}}^{n} k", "a bound, after \\limits"),
    ("\\sqrt{2}^{10^{10}}", "2^(5 * 10^9)"),
    ("\\sin(10^{10^{10}})", "the argument"),
    ("\\sum_{k=1}^{10^{10^{10}}} k", "a bound"),
    ("x = 9^{9^9}", "one side of an equation"),
    ("\\{1, 9^{9^{9}}\\}", "one element of a set"),
    ("9^9^9", "unbraced, read as 9^(9^9)"),
    ("2**10**8", "plain Python syntax"),
    ("(" * 200 + POWER_TOWER + ")" * 200, "too deep to read to the tower inside"),
    ("x^" * 400 + "x", "an exponent chain too deep to read"),
    ("\\frac" * 150 + "12", "fractions in fractions, too deep to read"),
]
# (answer, why sympy's work on it may be long although a timeout interrupts it)
COSTLY = [
    ("(x+1)^{100}", "101 terms once expanded, just past the limit"),
    ("(1+\\sqrt{2})^{100}", "expansion of an irrational sum"),
    ("(1+i)^{200}", "201 terms"),
    ("(x+1)^{100000}", "100,001 terms"),
    ("(x+1)^{10^{10}}", "coefficients of 3 billion digits, but only once expanded, term by term"),
    ("(2+\\sqrt{3})^{10^{9}}", "an irrational sum, unexpanded until compared"),
    ("(x+y+1)^{200}", "20,301 terms, over 5 s against 3"),
    ("((x+1)(x-1))^{200}", "a product of sums, then a power"),
    ("\\sqrt{x+1}^{1000}", "(x+1)^500"),
    ("(x+y+z+w+1)^{4}(x-y+z-w+2)^{4}", "a product of two 70-term expansions"),
    ("\\frac{(x+1)^{90}}{(x-1)^{90}}", "a quotient of two 91-term expansions"),
    ("x^{1001}", "a symbol's power past MAX_SYMBOLIC_EXPONENT"),
    ("\\lfloor e^{10^{10}} \\rfloor", "the integer part of a 4.3-billion-digit number"),
    ("\\prod_{k=1}^{10^{9}} k", "a product sympy evaluates to (10^9)!"),
    ("\\sum_{k=1}^{10^{9}} k!", "a sum over a billion terms"),
    ("\\int e^{x^{2}}\\sin(x^{3})\\,dx", "integration"),
    ("\\lim_{n\\to\\infty} (1+1/n)^{n}", "a limit"),
    ("{" * 9 + "1" + "}" * 9, "braces 9 deep: the LaTeX parser slows down steeply"),
    ("(" * 40 + "1" + ")" * 40, "parentheses 40 deep"),
]
ORDINARY = [
    "5^{5^{5}}", "2^{10^{3}}", "x^{1000}", "\\pi^{1000}", "\\sqrt[10^{9}]{2}", "(x+1)^{99}", "(1+\\sqrt{2})^{99}",
    "(x+y+1)^{12}", "(x+1)^{-99}", "(x+1)^{10^{10}/10^{10}}", "(x+1)^{1/2}", "(x+1)(x+2)(x+3)(x+4)(x+5)(x+6)",
    "1^{10^{10}}", "(-1)^{10^{100}}", "0^{10^{100}}", "5!!", "20000!", "\\Gamma(25206)", "\\Gamma(\\frac{1}{2})",
    "\\binom{100}{50}", "\\frac12", "(1,2)", "[0, 1) \\cup (2, 3]", "\\text{(C)}", "90^\\circ", "10^{-5}",
    "a_{10^{10^{10}}}", "1.5^{100}", "{" * 8 + "1" + "}" * 8, "\\left(\\frac{\\sqrt{3}}{2}, -\\frac{1}{2}\\right)",
]


@pytest.mark.parametrize(("answer", "why"), REFUSED)
def test_answers_past_the_grading_budget_are_refused(answer, why):
    assert reward.grading_cost(answer) is reward.GradingCost.REFUSED, why


@pytest.mark.parametrize(("answer", "why"), COSTLY)
def test_answers_with_large_interruptible_work_are_costly(answer, why):
    assert reward.grading_cost(answer) is reward.GradingCost.COSTLY, why


@pytest.mark.parametrize("answer", ORDINARY)
def test_ordinary_and_large_but_cheap_answers_are_ordinary(answer):
    assert reward.grading_cost(answer) is reward.GradingCost.ORDINARY


def test_an_answer_too_deep_for_the_callers_stack_is_refused(monkeypatch):
    """Where the caller's stack is already deep, the reading meets Python's recursion limit before its own depth
    limit: the answer is then refused, not waved through unread (a tower could be inside)."""
    answer = "(" * 25 + "1+7" + ")" * 25  # read in full from a shallow stack: costly
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 60)  # room for the call, not for 25 levels of reading
    try:
        cost = reward.grading_cost.__wrapped__(answer)
    finally:
        sys.setrecursionlimit(limit)
    assert cost is reward.GradingCost.REFUSED
    assert reward.grading_cost.__wrapped__(answer) is reward.GradingCost.COSTLY


TOKENS = ["1", "0", "10", "0.5", ".5", "3.", "x", "e", "\\pi", "+", "-", "*", "/", "^", "**", "!", "(", ")", "{", "}",
          "[", "]", "\\{", "\\}", "\\frac", "\\sqrt", "\\binom", "\\Gamma", "\\sum", "\\int", "\\lim", "_", "\\cdot",
          ",", "=", "\\left", "\\right", "\\text", "\\infty", "\\sin", "|", "&", "\\\\", "\\lfloor", "\\rfloor", " "]


@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_the_budget_reads_any_jumble_of_tokens(tokens):
    """The estimate never fails on what it reads (its fallback for a flaw, 'costly', is never needed)."""
    estimate = reward._Estimate("".join(tokens))
    with contextlib.suppress(reward._OverBudget):
        estimate.sequence(None)


def test_a_flaw_in_the_budget_grades_the_answer_as_costly(monkeypatch, caplog):
    def flawed(self, closing):
        raise ValueError("a flaw")

    monkeypatch.setattr(reward._Estimate, "sequence", flawed)
    with caplog.at_level(logging.WARNING, logger=reward.__name__):
        assert reward.grading_cost.__wrapped__("1+1") is reward.GradingCost.COSTLY
    assert "the grading budget could not read '1+1'; graded as costly" in caplog.text


@given(base=st.integers(2, 99), exponent=st.integers(1, 10**7))
def test_the_budget_of_a_power_is_its_digit_count(base, exponent):
    """Independent of the estimate's arithmetic: the digits of base^exponent, from logarithms."""
    digits = exponent * math.log10(base)
    refused = reward.grading_cost(f"{base}^{{{exponent}}}") is reward.GradingCost.REFUSED
    assert refused == (digits > reward.MAX_EXACT_DIGITS)


@given(n=st.integers(0, 10**6))
def test_the_budget_of_a_factorial_is_its_digit_count(n):
    digits = math.lgamma(n + 1) / math.log(10)
    assert (reward.grading_cost(f"{n}!") is reward.GradingCost.REFUSED) == (digits > reward.MAX_EXACT_DIGITS)


@given(variables=st.integers(1, 3), exponent=st.integers(1, 2000))
def test_the_cost_of_an_expansion_is_its_term_count(variables, exponent):
    """(x_1 + ... + x_v + 1)^n expands to C(n + v, v) terms."""
    base = "+".join(["1", *"xyz"[:variables]])
    terms = math.comb(exponent + variables, variables)
    costly = reward.grading_cost(f"({base})^{{{exponent}}}") is reward.GradingCost.COSTLY
    assert costly == (terms > reward.MAX_EXPANDED_TERMS)


def test_answers_past_the_budget_are_compared_as_text(monkeypatch):
    monkeypatch.setattr(reward, "_workers", lambda: pytest.fail("sent to a worker"))
    assert grade_answer("9^{9^{9^{9}}}", "9^{ 9^{9^{9}} }") is True
    assert grade_answer("9^{9^{9^{9}}}", "3") is False
    assert grade_answer("3", "(10^{9})!") is False


def math_verify_verdict(answer, truth, timeout=5):
    """math-verify's own verdict, called here in the main thread, the way the reward calls it (both sides boxed)."""
    targets = (math_verify.LatexExtractionConfig(), math_verify.ExprExtractionConfig())
    gold, predicted = (math_verify.parse(f"\\boxed{{{text}}}", targets, parsing_timeout=timeout)
                       for text in (truth, answer))
    return bool(gold and predicted and math_verify.verify(gold, predicted, timeout_seconds=timeout))


# costly answers against what math-verify decides in well under a second
COSTLY_PAIRS = [("(1+x)^{100}", "(x+1)^{100}"), ("(\\sqrt{2}+1)^{100}", "(1+\\sqrt{2})^{100}"),
                ("(1+x)^{1000}", "(x+1)^{1000}"), ("(x+y+1)^{200}", "(1+y+x)^{200}"), ("(1+i)^{200}", "2^{100}"),
                ("(x+1)^{10^{10}}", "(1+x)^{10^{10}}"),
                ("\\sum_{k=1}^{10} k", "55"), ("x^{2000}", "x^{2000}")]


def test_costly_answers_are_graded_by_math_verify_with_a_short_timeout(monkeypatch):
    """Not compared as text (which gave (1+x)^{100} against (x+1)^{100} a 0): math-verify's verdict, with its timeout
    cut to COSTLY_MATH_VERIFY_TIMEOUT_S."""
    sent = []
    real_grade = reward._WorkerPool.grade
    monkeypatch.setattr(reward._WorkerPool, "grade",
                        lambda pool, answer, truth, costly=False: sent.append(costly) or real_grade(pool, answer,
                                                                                                    truth, costly))
    assert [grade_answer(answer, truth) for answer, truth in COSTLY_PAIRS] == [
        math_verify_verdict(answer, truth) for answer, truth in COSTLY_PAIRS]
    assert sent == [True] * len(COSTLY_PAIRS)
    assert sum(grade_answer(answer, truth) for answer, truth in COSTLY_PAIRS) >= 5


def test_a_costly_pathological_answer_ends_at_the_short_timeout():
    """(x+y+1)^{200} against 3 keeps math-verify expanding past its own 5 s timeout; as a costly answer it is cut at
    1 s per call (what must hold is only that it ends before the 5 s alarm would have come)."""
    assert grade_answer("1", "1")  # a worker up
    start = time.monotonic()
    assert grade_answer("(x+y+1)^{200}", "3") is False
    assert time.monotonic() - start < reward.MATH_VERIFY_TIMEOUT_S


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


def test_every_benchmark_ground_truth_is_ordinary():
    """None is refused or graded with the short timeout."""
    truths = benchmark_ground_truths()
    assert len(truths) > 1900 and {name for name, _ in truths} >= {"aime24", "aime25", "amc23", "gsm8k", "math500"}
    assert [truth for _, truth in truths if reward.grading_cost(truth)] == []


def test_graded_from_16_threads_the_reward_agrees_with_math_verify():
    """Benchmark answers against their own ground truth and against their neighbour's, in each benchmark's own
    notation: the verdicts from 16 threads (through the workers) equal math-verify's called here directly, in the
    main thread, with its own timeouts."""
    truths = [truth for _, truth in benchmark_ground_truths()][::40]
    pairs = [(answer, truth) for index, truth in enumerate(truths) for answer in (truth, truths[index - 1])]
    expected = [math_verify_verdict(answer, truth) for answer, truth in pairs]
    with ThreadPoolExecutor(16) as threads:
        assert list(threads.map(lambda pair: grade_answer(*pair), pairs)) == expected
    assert 30 < sum(expected) < len(pairs) - 30  # both verdicts well represented


# Realistic responses (tests/fixtures/reward_responses.jsonl, written for this test in the style of model outputs),
# each with a hand label: is the response's final answer right? Where this reward's verdict differs from the label,
# the note of the row, and why (docs/reward.md has the same list).
DIFFERS_FROM_LABEL = {
    "right but not boxed": "only a boxed answer counts (the recipes ask for one)",
    "right but neither boxed nor after ####": "only a boxed or '####' answer counts on GSM8K",
    "the original DAPO 'Answer:' line, no box": "only a boxed answer counts (the DAPO script drops that instruction)",
    "an inequality for an interval": "math-verify compares a relation with an interval only if asked to",
    "a percentage for a fraction": "math-verify does not parse a boxed '50\\%'",
    "a percentage for its number": "math-verify does not parse a boxed '10\\%'",
    "hedging between two boxes": "the last box counts",
}
# Rows where math-verify, called directly on the whole response, gives another verdict than this reward.
DIFFERS_FROM_MATH_VERIFY = {
    "right but not boxed": "math-verify takes the last number of the text",
    "right but neither boxed nor after ####": "math-verify takes the last number of the text",
    "the original DAPO 'Answer:' line, no box": "math-verify takes the last number of the text",
    "cut off inside the box": "math-verify takes the 45 of the text before the cut box",
    "hedging between two boxes": "math-verify reads '2 or 3' as the set {2, 3}",
}


def test_realistic_responses_agree_with_math_verify_and_verls_scorers():
    """This reward against the hand labels, against math-verify called directly on the whole response (its own
    extraction, as verl's math_verify scorer calls it), and against verl's default scorer for the row's data source
    (math_reward for MATH, gsm8k for GSM8K, math_dapo for DAPO and AIME): every disagreement is one listed above."""
    from verl.utils.reward_score import default_compute_score

    rows = [json.loads(line) for line in (FIXTURES / "reward_responses.jsonl").read_text().splitlines()]
    assert len(rows) >= 70 and len({row["note"] for row in rows}) == len(rows)
    verdicts = {"label": [], "reward": [], "math_verify": [], "verl": []}
    for row in rows:
        source, response, truth = row["data_source"], row["response"], row["ground_truth"]
        verdicts["label"].append(row["correct"])
        verdicts["reward"].append(compute_score(data_source=source, solution_str=response, ground_truth=truth)["acc"])
        gold, predicted = math_verify.parse(f"\\boxed{{{truth}}}"), math_verify.parse(response)
        verdicts["math_verify"].append(bool(gold and predicted and math_verify.verify(gold, predicted)))
        verl_score = default_compute_score(source, response, truth)  # math_dapo: a dict, -1.0 when wrong
        verdicts["verl"].append((verl_score["score"] if isinstance(verl_score, dict) else verl_score) > 0)

    def differing(grader):
        return {row["note"] for row, ours, theirs in zip(rows, verdicts["reward"], verdicts[grader], strict=True)
                if ours != theirs}

    assert differing("label") == set(DIFFERS_FROM_LABEL)
    assert differing("math_verify") == set(DIFFERS_FROM_MATH_VERIFY)
    # verl's string-matching scorers miss most equivalent forms; where verl is right and this reward is not:
    verl_only = {row["note"] for row, label, ours, verl in zip(rows, verdicts["label"], verdicts["reward"],
                                                               verdicts["verl"], strict=True) if verl == label != ours}
    assert verl_only == {"the original DAPO 'Answer:' line, no box", "a percentage for its number"}
    assert sum(label == verl for label, verl in zip(verdicts["label"], verdicts["verl"], strict=True)) == 43


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
    registries (a second registration of the abc_grpo estimator raises), and the module must not import verl nor
    any module of the package but its answer reading."""
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
    assert result.stdout.strip() == "['abc_grpo_verl.answers', 'abc_grpo_verl.reward']"  # answers: text handling


@pytest.mark.slow
def test_the_reward_benchmark_reports_every_scenario(tmp_path):
    """bench/bench_reward.py end to end on tiny batches (no timing asserted): every scenario is measured, and no
    ordinary answer is graded differently beside pathological ones."""
    command = [sys.executable, str(ROOT / "bench" / "bench_reward.py"), "--answers", "20", "--repeats", "1",
               "--threads", "4", "--out", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    rows = {row["scenario"]: row for row in json.loads((tmp_path / "reward.json").read_text())["rows"]}
    assert list(rows) == ["repeated", "repeated + 5% refused", "varied", "varied + 5% refused", "varied + 5% costly",
                          "varied + 5% slow", "varied + 5% not recognised"]
    assert [row["answers"] for row in rows.values()] == [200, 200, 20, 20, 20, 20, 20]
    assert rows["repeated"]["ratio_to_batch"] == rows["varied"]["ratio_to_batch"] == 1.0
    assert all(row["grades_per_s"] > 0 and row["changed"] == 0 for row in rows.values())
    assert "| varied + 5% not recognised | 20 |" in (tmp_path / "reward.md").read_text()


def test_the_reward_benchmark_names_a_bad_flag():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_reward.py"), "--answers", "0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "--answers='0' is invalid: need an integer >= 1" in result.stderr


GRADE_THEN_DIE = """
import os, signal, sys
from abc_grpo_verl import reward

assert reward.compute_score(data_source="x", solution_str="\\\\boxed{2}", ground_truth="2")["score"] == 1.0
print(sorted(worker.process.pid for worker in reward._live_workers), flush=True)
if sys.argv[1] == "exit":
    os._exit(0)  # no atexit handler runs
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["exit", "kill"])
def test_grading_workers_end_with_their_parent_however_it_ends(ending):
    """The parent ended by os._exit (exit handlers skipped) or SIGKILL (nothing runs): its workers see the end of
    their input and exit within a few seconds, leaving nothing holding the parent's pipes."""
    import ast
    import subprocess
    import sys
    import time

    result = subprocess.run([sys.executable, "-c", GRADE_THEN_DIE, ending], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == (0 if ending == "exit" else -9), result.stderr[-3000:]
    pids = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert pids

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 5
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, pids))
