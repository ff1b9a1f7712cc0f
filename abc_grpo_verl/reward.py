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
reward manager calls ``compute_score`` from a thread pool (``loop.run_in_executor``), so off the main thread the
timeout is disabled and long answers are refused up front instead (see ``MAX_ANSWER_CHARS``).
"""

import logging
import re
import threading
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from math_verify.errors import TimeoutException

logger = logging.getLogger(__name__)

# `\boxed{...}` and its unboxed-frame twin `\fbox{...}`; the group's end is the opening brace.
BOX_OPENING = re.compile(r"\\(?:boxed|fbox)\s*\{")
# GSM8K's reference format, "#### 1,234"; the number may carry a sign, thousands commas and decimals.
GSM8K_ANSWER = re.compile(r"####\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)")
# Per parse/verify call, in the main thread only (math-verify's own default).
MATH_VERIFY_TIMEOUT_S = 5
# Answers longer than this are graded wrong without parsing. Real final answers are far shorter, and sympy's
# cost grows quickly with the input, which matters most off the main thread, where nothing can interrupt it.
MAX_ANSWER_CHARS = 1000
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
    counts as wrong, so a bad sample cannot stop training. In the main thread each math-verify call is limited
    to ``MATH_VERIFY_TIMEOUT_S``; elsewhere (verl's reward thread pool, Ray worker threads) the signal-based
    timeout cannot work and is disabled.
    """
    if answer is None or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        return False
    timeout = MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    try:
        gold = parse(f"\\boxed{{{ground_truth}}}", EXTRACTION_TARGETS, parsing_timeout=timeout)
        predicted = parse(f"\\boxed{{{answer}}}", EXTRACTION_TARGETS, parsing_timeout=timeout)
        if not gold or not predicted:
            return False
        return bool(verify(gold, predicted, timeout_seconds=timeout))
    except (Exception, TimeoutException):  # TimeoutException derives from BaseException
        logger.debug("math-verify failed on answer %r vs ground truth %r", answer, ground_truth, exc_info=True)
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
