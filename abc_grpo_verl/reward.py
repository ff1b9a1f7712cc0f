# Copyright 2026 Individual Contributor: abc-grpo-verl contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Rule-based math reward for GSM8K, MATH and DAPO-Math: the last ``\\boxed{}`` answer, graded with math-verify.

verl loads it with ``reward.custom_reward_function.path=pkg://abc_grpo_verl.reward`` and
``reward.custom_reward_function.name=compute_score``. verl's ``pkg://`` form imports the module by name, so the
reward workers share the one module object. This module imports neither verl nor the plugin's registering
modules, so even a file-path load (which executes a fresh copy) cannot register the ``abc_grpo`` estimator twice.

math-verify bounds each parse/compare with ``signal.alarm``, which Python only allows in the main thread. verl's
reward manager calls ``compute_score`` from a thread pool (``loop.run_in_executor``), and some answers (a short
power tower such as ``9^{9^{9^{9}}}``) keep sympy busy for good, so off the main thread an answer is graded in a
small pool of spawned processes instead: there each task runs in the process's main thread, where the timeout
works, and the calling thread waits ``POOL_DEADLINE_S`` at most, then counts the answer wrong and replaces the pool
(whose worker may be stuck in C code that no signal interrupts). The pool uses ``spawn``, never ``fork``: the caller
is a threaded Ray process. It is started on first use and terminated at exit. As with any spawn pool, its
children import the caller's main module as ``__mp_main__``, so a script that grades from threads needs the
``if __name__ == "__main__":`` guard (Ray's worker script and verl's entry points have it).
"""

import atexit
import importlib
import importlib.util
import logging
import multiprocessing
import multiprocessing.pool
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from math_verify.errors import TimeoutException

logger = logging.getLogger(__name__)

# `\boxed{...}` and its unboxed-frame twin `\fbox{...}`; the group's end is the opening brace.
BOX_OPENING = re.compile(r"\\(?:boxed|fbox)\s*\{")
# GSM8K's reference format, "#### 1,234"; the number may carry a sign, thousands commas and decimals.
GSM8K_ANSWER = re.compile(r"####\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)")
# Per parse/verify call (math-verify's own default), in the main thread or in a pool process.
MATH_VERIFY_TIMEOUT_S = 5
# Answers longer than this are graded wrong without parsing. Real final answers are far shorter; a long one could
# only burn its timeouts (up to 3 x MATH_VERIFY_TIMEOUT_S) and, off the main thread, cost a pool restart.
MAX_ANSWER_CHARS = 1000
# Off the main thread: the size of the grading pool, and how long a calling thread waits for its verdict. The
# child's gold parse, answer parse and verify may each take MATH_VERIFY_TIMEOUT_S; the rest is room for queueing
# behind other tasks.
POOL_PROCESSES = max(1, min(4, os.cpu_count() or 1))
POOL_DEADLINE_S = 3 * MATH_VERIFY_TIMEOUT_S + 5
# How long a new pool may take to grade its first (trivial) answer: spawn plus imports take a few seconds on a
# small machine, and are not charged to POOL_DEADLINE_S. A pool that misses it is given up for good.
POOL_START_TIMEOUT_S = 60
# The name the child processes import this module by when the caller loaded it from a file (verl's file-path load
# gives it a name no other process can import).
PACKAGE_MODULE = "abc_grpo_verl.reward"
# Both sides are wrapped in \boxed{} before parsing, so the LaTeX target finds them; the plain-expression target
# catches answers such as "1/2" that are not LaTeX.
EXTRACTION_TARGETS = (LatexExtractionConfig(), ExprExtractionConfig())


def is_gsm8k_source(data_source: str | None) -> bool:
    """Whether `data_source` names GSM8K (``openai/gsm8k`` or any source containing "gsm8k")."""
    return data_source is not None and "gsm8k" in data_source.lower()


def last_boxed_content(text: str) -> str | None:
    """The contents of the last ``\\boxed{...}`` / ``\\fbox{...}`` in `text`, braces matched.

    Escaped braces (``\\{``, ``\\}``) are content, not grouping. None when there is no box, or when the last box is
    never closed (a response cut off by the length limit has no final answer, whatever it boxed earlier).
    """
    openings = list(BOX_OPENING.finditer(text))
    if not openings:
        return None
    start = openings[-1].end()
    depth = 1
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2  # skip the escaped character, which may be a brace
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:index]
        index += 1
    return None


def extract_final_answer(solution_str: str, data_source: str | None = None) -> str | None:
    """The final answer of a response: its last boxed expression, or for GSM8K sources its last ``#### <number>``.

    Args:
        solution_str: the decoded response.
        data_source: the row's ``data_source``; GSM8K sources also accept the dataset's ``####`` format.

    Returns:
        The answer text with surrounding whitespace removed (thousands commas removed from a ``####`` number),
        or None when the response has no (non-empty) final answer.
    """
    boxed = last_boxed_content(solution_str)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    if is_gsm8k_source(data_source):
        numbers = GSM8K_ANSWER.findall(solution_str)
        if numbers:
            return numbers[-1].replace(",", "")
    return None


def grade_answer(answer: str | None, ground_truth: str) -> bool:
    """Whether `answer` is mathematically equivalent to `ground_truth` according to math-verify.

    Never raises: a missing or over-long answer, a parse failure, a math-verify timeout or any other error
    counts as wrong, so a bad sample cannot stop training. Each math-verify call is limited to
    ``MATH_VERIFY_TIMEOUT_S``: directly in the main thread, and elsewhere (verl's reward thread pool, Ray worker
    threads) by grading in a spawned process, whose answer is awaited ``POOL_DEADLINE_S`` at most.
    """
    if answer is None or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        return False
    if threading.current_thread() is threading.main_thread():
        return _parse_and_verify(answer, ground_truth, MATH_VERIFY_TIMEOUT_S)
    return _grade_in_pool(answer, ground_truth)


def _parse_and_verify(answer: str, ground_truth: str, timeout: int | None) -> bool:
    """math-verify's verdict on `answer` against `ground_truth`, each call limited to `timeout` seconds (None: no
    limit; a limit works only in a main thread). Any failure, a timeout included, counts as wrong."""
    try:
        gold = parse(f"\\boxed{{{ground_truth}}}", EXTRACTION_TARGETS, parsing_timeout=timeout)
        predicted = parse(f"\\boxed{{{answer}}}", EXTRACTION_TARGETS, parsing_timeout=timeout)
        if not gold or not predicted:
            return False
        return bool(verify(gold, predicted, timeout_seconds=timeout))
    except (Exception, TimeoutException):  # TimeoutException derives from BaseException
        logger.debug("math-verify failed on answer %r vs ground truth %r", answer, ground_truth, exc_info=True)
        return False


_SPAWN = multiprocessing.get_context("spawn")
_pool_lock = threading.Lock()
_pool: multiprocessing.pool.Pool | None = None
# _parse_and_verify as the pool's children import it (see _importable_self); set with the first pool.
_pool_task: Callable[[str, str, int | None], bool] | None = None
# Set when no pool can be had (creation failed, or the interpreter is exiting): grade in the calling thread.
_pool_unavailable = False


def _importable_self() -> ModuleType | None:
    """This module as a spawned child can import it, so that pickle can send it `_parse_and_verify` by name: this
    very module when it is imported by its name, else the installed package's module when it is the same file (a
    copy loaded from a file path runs under a name nobody else can import), else None."""
    module = sys.modules.get(__name__)
    if module is not None and getattr(module, "_parse_and_verify", None) is _parse_and_verify:
        return module
    try:
        spec = importlib.util.find_spec(PACKAGE_MODULE)
        if spec is not None and spec.origin is not None and os.path.samefile(spec.origin, __file__):
            return importlib.import_module(PACKAGE_MODULE)
    except (ImportError, OSError, ValueError):
        pass
    return None


def _get_pool() -> multiprocessing.pool.Pool | None:
    """The grading pool, started on first use; None (after a one-time warning) when none can be started."""
    global _pool, _pool_task, _pool_unavailable
    with _pool_lock:
        if _pool is None and not _pool_unavailable:
            try:
                module = _importable_self()
                if module is None:
                    raise ImportError(f"child processes cannot import {__name__!r} ({__file__})")
                _pool_task = module._parse_and_verify
                pool = _SPAWN.Pool(POOL_PROCESSES)
                try:  # a child that cannot start or import would fail each task after its full deadline
                    if not pool.apply_async(_pool_task, ("1", "1", MATH_VERIFY_TIMEOUT_S)).get(POOL_START_TIMEOUT_S):
                        raise RuntimeError("the grading pool graded 1 = 1 wrong")
                except BaseException:
                    pool.terminate()
                    raise
                _pool = pool
            except Exception:  # e.g. a daemonic process may not have children
                _pool_unavailable = True
                logger.warning("Cannot start the math-verify grading pool; grading off the main thread without a "
                               "timeout from now on (a pathological answer can hang its thread)", exc_info=True)
        return _pool


def _discard_pool(pool: multiprocessing.pool.Pool) -> None:
    """Terminate `pool` (its workers get SIGTERM, stuck or not) and, if it is still current, forget it, so that
    the next grading starts a new one."""
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    pool.terminate()


@atexit.register
def _close_pool() -> None:
    global _pool, _pool_unavailable
    with _pool_lock:
        pool, _pool = _pool, None
        _pool_unavailable = True
    if pool is not None:
        pool.terminate()


def _grade_in_pool(answer: str, ground_truth: str) -> bool:
    """`_parse_and_verify` with the timeout, run in a pool process's main thread; wrong when the pool misses
    POOL_DEADLINE_S (the pool is then replaced) or fails. A task lost because another thread's deadline miss
    replaced the pool is submitted again, once."""
    for _ in range(2):
        pool = _get_pool()
        if pool is None:
            return _parse_and_verify(answer, ground_truth, None)
        try:
            pending = pool.apply_async(_pool_task, (answer, ground_truth, MATH_VERIFY_TIMEOUT_S))
        except Exception:  # a pool that is no longer running
            logger.warning("The math-verify grading pool failed; replacing it", exc_info=True)
            _discard_pool(pool)
            return False
        deadline = time.monotonic() + POOL_DEADLINE_S
        while _pool is pool:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning("math-verify took over %s s on answer %.200r; counted wrong, grading pool replaced",
                               POOL_DEADLINE_S, answer)
                _discard_pool(pool)
                return False
            try:
                return bool(pending.get(timeout=min(remaining, 0.25)))
            except multiprocessing.TimeoutError:
                continue
            except Exception:  # e.g. an argument or result pickle could not cross
                logger.debug("math-verify pool task failed on answer %r", answer, exc_info=True)
                return False
    return False


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's custom reward function: 1.0 when the response's final answer equals the ground truth, else 0.0.

    verl's naive reward manager calls it with keywords (``data_source``, ``solution_str``, ``ground_truth``,
    ``extra_info``, plus ``reward.custom_reward_function.reward_kwargs`` and, with a reward model, its router
    address); keywords this scorer has no use for are ignored.

    Returns:
        ``{"score": 1.0 | 0.0, "acc": bool, "pred": str}``: verl uses ``score`` as the reward and logs the other
        keys; ``pred`` (the extracted answer, "" when none) also feeds verl's majority-vote validation metrics.
    """
    predicted = extract_final_answer(solution_str, data_source)
    correct = ground_truth is not None and grade_answer(predicted, str(ground_truth))
    return {"score": 1.0 if correct else 0.0, "acc": correct, "pred": predicted or ""}
