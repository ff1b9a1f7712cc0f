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

The promise, wherever ``compute_score`` is called (main thread, verl's reward thread pool, Ray worker threads,
daemonic processes): no answer can stall the process or another answer's grade, and an answer's grade depends on
that answer alone. docs/reward.md has the measured costs. How:

- **Cheap refusal first.** Some short answers make sympy work for minutes or for good (``9^{9^{9^{9}}}``,
  ``(10^9)!``, ``(x+1)^{10^5}``), and a big-integer computation holds the GIL, so in-process it would freeze every
  thread. ``exceeds_grading_budget`` estimates, without sympy, the size of the exact numbers and expansions an
  answer implies; past the budget the answer is compared as text only (whitespace ignored), in microseconds.
- **Grading in worker processes.** Everything else is graded by math-verify in one of ``WORKER_PROCESSES`` child
  processes, each an independent ``python`` started with ``subprocess`` (which daemonic processes may do, unlike
  ``multiprocessing``), running math-verify in its main thread, where math-verify's own signal timeout works. A
  worker grades one answer at a time; the answer's deadline (``TASK_DEADLINE_S``) starts when the worker receives
  it, not while it waits for a free worker. A worker that misses the deadline (stuck in C code that no signal
  interrupts) is killed alone, its answer counted wrong; nothing else was queued on it. A fresh worker replaces it.
- **Bad ground truths score nothing.** A ground truth that is None, NaN, empty, a container or the text of a null
  ("None", "nan", ...) is what a broken data row leaves; ``compute_score`` scores 0.0 against it, with a warning.
"""

import atexit
import contextlib
import json
import logging
import math
import numbers
import os
import re
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from math_verify.errors import TimeoutException

logger = logging.getLogger(__name__)

# `\boxed{...}` and its unboxed-frame twin `\fbox{...}`; the group's end is the opening brace.
BOX_OPENING = re.compile(r"\\(?:boxed|fbox)\s*\{")
# GSM8K's reference format, "#### 1,234"; the number may carry a sign, thousands commas and decimals.
GSM8K_ANSWER = re.compile(r"####\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)")
# Per parse/verify call, in a worker's main thread (math-verify's own default).
MATH_VERIFY_TIMEOUT_S = 5
# Answers longer than this are graded wrong without parsing. Real final answers are far shorter; a long one could
# only burn its timeouts.
MAX_ANSWER_CHARS = 1000
# Both sides are wrapped in \boxed{} before parsing, so the LaTeX target finds them; the plain-expression target
# catches answers such as "1/2" that are not LaTeX.
EXTRACTION_TARGETS = (LatexExtractionConfig(), ExprExtractionConfig())

# The grading budget (see exceeds_grading_budget). Past it, math-verify would spend seconds to forever on one answer:
# measured against the ground truth 3 on 2 loaded cores, 3^{200000} (95,425 digits) took 0.3 s, 7^{10^7} (8.5 million
# digits) and 10^6! (5.6 million) over 5 s; (x+1)^{99} (100 terms) 0.6 s, (x+1)^{200} 0.3-0.8 s, (x+1)^{500} 1-2 s,
# (x+1)^{900} and (x+y+1)^{200} (20,301 terms) over 5 s. Real answers stay far below both limits.
MAX_EXACT_DIGITS = 100_000  # digits of an exact rational sympy would compute
MAX_EXPANDED_TERMS = 100  # terms of an integer power of a sum with a symbolic or irrational term, expanded
# Rationals up to this many digits are carried exactly by the estimate (so 1^{10^9} and 2^{2^3} are known small);
# larger ones by their size only. Arithmetic on them costs microseconds.
EXACT_DIGITS = 400

# Worker processes: how many, and how long an answer may take once its worker has it (gold parse, answer parse
# and verify may each use MATH_VERIFY_TIMEOUT_S; the rest is room for a loaded machine). A worker's start (a few
# seconds of imports on a small machine) is bounded by WORKER_START_TIMEOUT_S and charged to no answer.
WORKER_PROCESSES = max(1, min(4, os.cpu_count() or 1))
TASK_DEADLINE_S = 3 * MATH_VERIFY_TIMEOUT_S + 5
WORKER_START_TIMEOUT_S = 120
# A worker also limits its own CPU time per answer, so that one whose parent died (and so cannot kill it) still
# stops: the kernel ends it with SIGXCPU past this many CPU seconds on one answer.
TASK_CPU_LIMIT_S = 2 * TASK_DEADLINE_S

# Ground truths that a broken data row leaves behind: str() of None / NaN, JSON's null.
NULL_SPELLINGS = frozenset({"none", "null", "nan"})


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
        numbers_found = GSM8K_ANSWER.findall(solution_str)
        if numbers_found:
            return numbers_found[-1].replace(",", "")
    return None


def ground_truth_problem(value: Any) -> str | None:
    """Why `value` cannot be a ground truth, or None when it can.

    A ground truth is text or a finite number (not a bool). Text must not be empty or spell a null ("None",
    "null", "nan", any case): those are what ``str()`` makes of a missing value. The reason reads after a field
    name: "is null", "is empty", "is of type list ([1, 2]), not text or a number", ...
    """
    if isinstance(value, bool) or not isinstance(value, str | numbers.Real | None):
        return f"is of type {type(value).__name__} ({value!r:.80}), not text or a number"
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return "is null"
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        return f"is not finite ({value!r})"
    text = str(value).strip()
    if not text:
        return "is empty"
    if text.lower() in NULL_SPELLINGS:
        return f"is {text!r}, the text of a missing value"
    return None


def grade_answer(answer: str | None, ground_truth: str) -> bool:
    """Whether `answer` is mathematically equivalent to `ground_truth` according to math-verify.

    Never raises for a bad answer: a missing or over-long answer, a parse failure, a math-verify timeout, a missed
    deadline or any other error counts as wrong, so a bad sample cannot stop training. An answer (or ground truth)
    past the grading budget is compared as text, whitespace ignored. Everything else is graded in a worker process
    (see the module docstring); WorkerStartError (a RuntimeError) when none can be started at all.
    """
    if answer is None or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        return False
    if exceeds_grading_budget(answer) or exceeds_grading_budget(ground_truth):
        logger.debug("answer %.200r or ground truth %.200r is past the grading budget; compared as text",
                     answer, ground_truth)
        return _without_whitespace(answer) == _without_whitespace(ground_truth)
    return _workers().grade(answer, ground_truth)


def _without_whitespace(text: str) -> str:
    return "".join(text.split())


def _parse_and_verify(answer: str, ground_truth: str) -> bool:
    """math-verify's verdict on `answer` against `ground_truth`, each call limited to MATH_VERIFY_TIMEOUT_S (so: in a
    main thread only). Any failure, a timeout included, counts as wrong."""
    try:
        gold = parse(f"\\boxed{{{ground_truth}}}", EXTRACTION_TARGETS, parsing_timeout=MATH_VERIFY_TIMEOUT_S)
        predicted = parse(f"\\boxed{{{answer}}}", EXTRACTION_TARGETS, parsing_timeout=MATH_VERIFY_TIMEOUT_S)
        if not gold or not predicted:
            return False
        return bool(verify(gold, predicted, timeout_seconds=MATH_VERIFY_TIMEOUT_S))
    except (Exception, TimeoutException):  # TimeoutException derives from BaseException
        logger.debug("math-verify failed on answer %r vs ground truth %r", answer, ground_truth, exc_info=True)
        return False


# --------------------------------------------------------------------------------------------------------------
# The grading budget: a cost estimate of an answer without sympy.
# --------------------------------------------------------------------------------------------------------------


class _OverBudget(Exception):
    """Raised by the estimate as soon as one subexpression is past the grading budget."""


@dataclass(frozen=True)
class _Size:
    """What the estimate knows of a subexpression.

    exact: its value, for a rational of at most EXACT_DIGITS digits; else None.
    digits: upper bound on the decimal digits of the numbers sympy holds for it (for a rational, of its numerator
        and denominator; for an algebraic number such as sqrt(a), of a); 0 for a symbol.
    rational: whether it is a rational number (exact or not).
    terms: how many terms it has once expanded (1 for a rational or a monomial; x + y + 1 has 3), for the cost of
        expanding its integer powers.
    """

    exact: Fraction | None = None
    digits: float = 0.0
    rational: bool = False
    terms: float = 1


_SYMBOL = _Size()
# n! has more than MAX_EXACT_DIGITS digits from n = 25,206 on; an n of more digits than this is refused unseen
_FACTORIAL_ARGUMENT_DIGITS = 6


def _rational(value: Fraction) -> _Size:
    digits = math.log10(max(abs(value.numerator), value.denominator))
    return _Size(exact=value if digits <= EXACT_DIGITS else None, digits=digits, rational=True)


def _rational_of_digits(digits: float) -> _Size:
    """A rational known only by its size; past the budget it is refused."""
    if digits > MAX_EXACT_DIGITS:
        raise _OverBudget
    return _Size(digits=digits, rational=True)


def _as_float(integer: int) -> float:
    return float(abs(integer)) if integer.bit_length() < 1000 else math.inf


def _magnitude(size: _Size) -> float:
    """Upper bound on |value| of a rational, for the exact ones |numerator| (inf when huge)."""
    if size.exact is not None:
        return _as_float(size.exact.numerator)
    return 10.0**size.digits if size.digits < 300 else math.inf


def _add(left: _Size, right: _Size) -> _Size:
    if left.exact is not None and right.exact is not None:
        return _rational(left.exact + right.exact)
    digits = left.digits + right.digits + math.log10(2)
    if left.rational and right.rational:
        return _rational_of_digits(digits)
    return _Size(digits=digits, terms=left.terms + right.terms)


def _multiply(left: _Size, right: _Size, divide: bool = False) -> _Size:
    if left.exact is not None and right.exact is not None and not (divide and right.exact == 0):
        return _rational(left.exact / right.exact if divide else left.exact * right.exact)
    digits = left.digits + right.digits
    if left.rational and right.rational:
        return _rational_of_digits(digits)
    return _Size(digits=digits, terms=left.terms * right.terms)


def _power(base: _Size, exponent: _Size) -> _Size:
    if not exponent.rational:  # 2^x, e^{i\pi}: nothing to compute
        return _Size(digits=base.digits + exponent.digits)
    # The exponent's numerator bounds the work: sympy raises the base's numerator and denominator to it (p/q: to
    # p, then takes a root), or expands a sum to that power. Bases 0, 1 and -1 have 0 digits.
    work = _magnitude(exponent)
    integral = exponent.exact is not None and exponent.exact.denominator == 1
    terms = _expanded_terms(base.terms, work) if integral else 1
    digits = work * base.digits if base.digits else 0.0
    if digits > MAX_EXACT_DIGITS:
        raise _OverBudget
    if base.exact is not None and integral and digits <= EXACT_DIGITS and (base.exact or exponent.exact >= 0):
        return _rational(base.exact ** int(exponent.exact))
    return _Size(digits=max(digits, base.digits), rational=base.rational and integral, terms=terms)


def _expanded_terms(terms: float, exponent: float) -> float:
    """The number of terms of a sum of `terms` terms raised to `exponent`, multinomially expanded:
    C(exponent + terms - 1, terms - 1); refused past MAX_EXPANDED_TERMS."""
    if terms == 1 or exponent <= 1:
        return terms if exponent else 1
    if exponent > 1e15 or not math.isfinite(terms):
        raise _OverBudget
    log_count = math.lgamma(exponent + terms) - math.lgamma(terms) - math.lgamma(exponent + 1)
    if log_count > math.log(MAX_EXPANDED_TERMS):
        raise _OverBudget
    return math.exp(log_count)


def _factorial(argument: _Size) -> _Size:
    if not argument.rational:
        return _Size(digits=argument.digits)
    if argument.digits > _FACTORIAL_ARGUMENT_DIGITS:
        raise _OverBudget
    if argument.exact is None or argument.exact.denominator != 1 or argument.exact < 0:
        return _SYMBOL  # gamma of a fraction, or complex infinity
    n = int(argument.exact)
    digits = math.lgamma(n + 1) / math.log(10)
    if digits > MAX_EXACT_DIGITS:
        raise _OverBudget
    return _rational(Fraction(math.factorial(n))) if digits <= EXACT_DIGITS else _rational_of_digits(digits)


def _binomial(n: _Size, k: _Size) -> _Size:
    if not (n.rational and k.rational):
        return _Size(digits=n.digits + k.digits)
    if n.exact is not None and k.exact is not None and n.exact.denominator == k.exact.denominator == 1:
        top, low = int(n.exact), int(k.exact)
        if not 0 <= low <= top:
            return _rational(Fraction(0))
        low = min(low, top - low)
        if top < 2**53:
            digits = (math.lgamma(top + 1) - math.lgamma(low + 1) - math.lgamma(top - low + 1)) / math.log(10)
        else:  # C(n, k) <= n^k
            digits = _as_float(low) * math.log10(top)
    else:  # one side known only by its size: C(n, k) <= n^k
        digits = _magnitude(k) * max(n.digits, 1.0)
    if digits > MAX_EXACT_DIGITS:
        raise _OverBudget
    return _rational_of_digits(digits)


def _root(radicand: _Size) -> _Size:
    # sympy keeps sqrt(a) as a^(1/2), so its later powers are powers of a
    return _Size(digits=radicand.digits, terms=radicand.terms)


# Tokens: a number, a command (\frac), a character. Spacing commands and text-mode groups carry no math.
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_TOKEN = re.compile(rf"{_NUMBER.pattern}|\*\*|\\[A-Za-z]+|\\.|\S")
_DECIMAL_POINT = {f".{digit}" for digit in "0123456789"}
_SPACING = frozenset({"\\,", "\\;", "\\:", "\\!", "\\ ", "\\quad", "\\qquad", "~", "'", "|", "\\|", "\\lvert",
                      "\\rvert", "\\vert", "\\displaystyle", "\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl",
                      "\\Bigr", "\\big", "\\Big", "\\biggl", "\\biggr", "$", "\\mathrm", "\\mathbf", "\\mathit",
                      "\\boldsymbol", "\\mathbb", "\\mathcal"})
_TEXT_COMMANDS = frozenset({"\\text", "\\textbf", "\\textit", "\\textrm", "\\mbox", "\\operatorname", "\\label"})
_FRACTIONS = frozenset({"\\frac", "\\dfrac", "\\tfrac", "\\cfrac"})
_BINOMIALS = frozenset({"\\binom", "\\dbinom", "\\tbinom"})
_OPENING = {"{": "}", "(": ")", "[": "]", "\\{": "\\}", "\\lbrace": "\\rbrace", "\\langle": "\\rangle",
            "\\lfloor": "\\rfloor", "\\lceil": "\\rceil"}
_CLOSING = frozenset(_OPENING.values())
_PRODUCTS = frozenset({"*", "\\cdot", "\\times", "\\ast"})
_QUOTIENTS = frozenset({"/", "\\div"})
_SUMS = frozenset({"+", "-", "\\pm", "\\mp"})
_POWERS = frozenset({"^", "**"})
_NOT_ATOMS = _CLOSING | _PRODUCTS | _QUOTIENTS | _SUMS | {"\\\\"}


class _Estimate:
    """A recursive-descent reading of LaTeX or plain math that computes the _Size of each subexpression.

    It only has to be generous, never exact: what it does not understand (relations, sets, intervals, text) it
    reads as symbols or separators, and an answer it cannot read at all is left to math-verify and the deadline.
    """

    def __init__(self, text: str):
        self.tokens = [token for token in _TOKEN.findall(text) if token not in _SPACING]
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.position += 1
        return token

    def sequence(self, closing: str | None) -> _Size:
        """Expressions up to `closing` (None: the end), separated by whatever is not an operator (, = < ;)."""
        sizes = []
        while self.peek() is not None and self.peek() != closing:
            start = self.position
            sizes.append(self.sum())
            if self.position == start:
                self.take()  # a separator or a stray closing bracket
        self.take()
        return sizes[0] if len(sizes) == 1 else _Size(digits=sum(size.digits for size in sizes))

    def sum(self) -> _Size:
        size = self.product()
        while self.peek() in _SUMS:
            self.take()
            size = _add(size, self.product())
        return size

    def product(self) -> _Size:
        size = self.signed()
        while True:
            token = self.peek()
            if token in _PRODUCTS or token in _QUOTIENTS:
                self.take()
                size = _multiply(size, self.signed(), divide=token in _QUOTIENTS)
            elif self.starts_atom(token):  # implicit multiplication: 2x, 3\sqrt{2}, \sin(x)
                size = _multiply(size, self.power())
            else:
                return size

    def signed(self) -> _Size:
        while self.peek() in _SUMS:
            self.take()
        return self.power()

    def power(self) -> _Size:
        size = self.postfix(self.atom())
        while self.peek() in _POWERS:
            self.take()
            size = self.postfix(_power(size, self.exponent()))
        return size

    def exponent(self) -> _Size:
        """A braced exponent, or an unbraced one with the powers it carries: a^b^c is read a^(b^c), the larger of
        its two readings. Its sign does not change the work."""
        while self.peek() in _SUMS:
            self.take()
        return self.atom() if self.peek() in _OPENING else self.power()

    def postfix(self, size: _Size) -> _Size:
        while self.peek() == "!":
            self.take()
            size = _factorial(size)
        if self.peek() == "_":  # a subscript is part of a symbol's name, never computed
            self.take()
            self.skip_argument()
            size = _SYMBOL if size.rational else size
        return size

    @staticmethod
    def starts_atom(token: str | None) -> bool:
        return token is not None and (token[0].isalnum() or token in _OPENING or token[:2] in _DECIMAL_POINT
                                      or (token.startswith("\\") and token not in _NOT_ATOMS))

    def atom(self) -> _Size:
        token = self.peek()
        if not self.starts_atom(token):
            return _SYMBOL
        self.take()
        if _NUMBER.fullmatch(token):
            return _rational(Fraction(token))
        if token in _OPENING:
            return self.sequence(_OPENING[token])
        if token in _FRACTIONS:
            return _multiply(self.argument(), self.argument(), divide=True)
        if token in _BINOMIALS:
            return _binomial(self.argument(), self.argument())
        if token == "\\sqrt":
            if self.peek() == "[":
                self.take()
                self.sequence("]")  # sympy takes the index's root of a power it already holds
            return _root(self.argument())
        if token in _TEXT_COMMANDS:
            self.skip_argument()
        return _SYMBOL

    def argument(self) -> _Size:
        """A command's argument: a braced group, or one token (\\frac12 is \\frac{1}{2})."""
        token = self.peek()
        if token is not None and _NUMBER.fullmatch(token) and len(token) > 1 and token[1].isdecimal():
            self.tokens[self.position] = token[1:]
            return _rational(Fraction(token[0]))
        return self.atom()

    def skip_argument(self) -> None:
        """Pass over a braced group, or one token."""
        if self.peek() != "{":
            self.take()
            return
        depth = 0
        while (token := self.take()) is not None:
            depth += {"{": 1, "}": -1}.get(token, 0)
            if depth == 0:
                return


@lru_cache(maxsize=4096)
def exceeds_grading_budget(text: str) -> bool:
    """Whether comparing `text` would make sympy compute past the grading budget: an exact rational of more than
    MAX_EXACT_DIGITS digits (``9^{9^{9}}``, ``(10^6)!``, ``\\binom{10^9}{10^8}``), or an integer power of a sum with
    a symbolic or irrational term that expands to more than MAX_EXPANDED_TERMS terms (``(x+1)^{1000}``,
    ``(x+y+1)^{50}``, ``(1+\\sqrt{2})^{500}``).

    An estimate from the text alone, in microseconds, generous in what it lets through: what it cannot read goes
    to math-verify, under the worker's deadline.
    """
    try:
        _Estimate(text).sequence(None)
    except _OverBudget:
        return True
    except (RecursionError, ValueError, ZeroDivisionError, OverflowError):
        return False
    return False


# --------------------------------------------------------------------------------------------------------------
# Worker processes.
# --------------------------------------------------------------------------------------------------------------

# A worker runs this very file under its own module name in a fresh interpreter, whatever name the caller loaded it
# by (verl's file-path load gives it one no other process can import). A failed start is reported on stdout.
_WORKER_BOOTSTRAP = """
import importlib.util, json, sys, traceback
try:
    spec = importlib.util.spec_from_file_location("abc_grpo_verl_grading_worker", sys.argv[1])
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
except BaseException:
    print("error " + json.dumps(traceback.format_exc()), flush=True)
    sys.exit(1)
worker.serve_grading_requests()
"""


def serve_grading_requests() -> None:
    """A worker's main loop: read ``[answer, ground_truth]`` JSON lines on stdin, answer each with a line "1"
    (equivalent) or "0" on stdout; exit at the end of stdin (the parent closed it, or died).

    Runs in the worker's main thread, where math-verify's signal timeout works. The first line written is "ready",
    once math-verify has graded 1 = 1, or "error <reason>". Whatever else writes to stdout goes to stderr, so that
    only replies reach the parent.
    """
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent decides
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))  # no SIGXCPU core
    if not _parse_and_verify("1", "1"):
        replies.write(b'error "math-verify grades 1 = 1 wrong"\n')
        return
    replies.write(b"ready\n")
    for line in sys.stdin.buffer:
        answer, ground_truth = json.loads(line)
        _limit_cpu_time(TASK_CPU_LIMIT_S)
        replies.write(b"1\n" if _parse_and_verify(answer, ground_truth) else b"0\n")


def _limit_cpu_time(seconds: float) -> None:
    """Let the kernel end this process (SIGXCPU) once it has used `seconds` more CPU time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


class WorkerStartError(RuntimeError):
    """No grading worker could be started (the reason is in the message)."""


class _Worker:
    """One grading process and its two pipes; used by one thread at a time."""

    def __init__(self):
        command = [sys.executable, "-c", _WORKER_BOOTSTRAP, os.path.abspath(__file__)]
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as error:
            raise WorkerStartError(f"cannot start a grading worker ({sys.executable}): {error}") from error
        reply = self._read_line(time.monotonic() + WORKER_START_TIMEOUT_S)
        if reply == "ready":
            return
        self.kill()
        if reply is not None:
            reason = reply.removeprefix("error ")
            with contextlib.suppress(ValueError):
                reason = json.loads(reason)
        elif self.process.returncode == -signal.SIGKILL:
            reason = f"it did not report ready within {WORKER_START_TIMEOUT_S} s"
        else:
            reason = f"it exited with status {self.process.returncode} (its stderr is above)"
        raise WorkerStartError(f"a grading worker ({sys.executable} -c <bootstrap> {__file__}) failed to start: "
                               f"{reason}")

    def grade(self, answer: str, ground_truth: str) -> bool | None:
        """The worker's verdict, or None when it died or missed TASK_DEADLINE_S, counted from now (it is then
        killed). OSError when it was gone before it could take the answer."""
        self.process.stdin.write(json.dumps([answer, ground_truth]).encode() + b"\n")
        self.process.stdin.flush()
        reply = self._read_line(time.monotonic() + TASK_DEADLINE_S)
        if reply in ("0", "1"):
            return reply == "1"
        self.kill()
        return None

    def _read_line(self, deadline: float) -> str | None:
        """The next line from the worker, or None at its end of output or past `deadline`."""
        stdout = self.process.stdout.fileno()
        poller = select.poll()  # not select.select: a Ray process may hold file descriptors above 1024
        poller.register(stdout, select.POLLIN)
        received = b""
        while not received.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                return None
            chunk = os.read(stdout, 4096)
            if not chunk:
                return None
            received += chunk
        return received.decode(errors="replace").strip()

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            logger.warning("grading worker %d did not exit after SIGKILL", self.process.pid)
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()


class _WorkerPool:
    """Up to `size` workers, started on demand; a caller waits for a free one, then has it alone."""

    def __init__(self, size: int = WORKER_PROCESSES):
        self.free_slots = threading.Semaphore(size)
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.closed = False

    def grade(self, answer: str, ground_truth: str) -> bool:
        with self.free_slots:
            with self.lock:
                worker = self.idle.pop() if self.idle else None
            verdict = None
            for _ in range(2):  # a worker found gone before it took the answer is replaced, once
                if worker is None or not worker.alive():
                    worker = _Worker()
                try:
                    verdict = worker.grade(answer, ground_truth)
                    break
                except OSError:
                    worker.kill()
                    worker = None
            if verdict is None:
                logger.warning("math-verify took over %s s on answer %.200r (ground truth %.200r), or its worker "
                               "died; counted wrong, worker replaced", TASK_DEADLINE_S, answer, ground_truth)
            with self.lock:
                if worker is not None and worker.alive() and not self.closed:
                    self.idle.append(worker)
                    worker = None
            if worker is not None and worker.alive():
                worker.kill()
            return bool(verdict)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.kill()


_pool_lock = threading.Lock()
_pool: _WorkerPool | None = None


def _workers() -> _WorkerPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _WorkerPool()
        return _pool


@atexit.register
def _close_workers() -> None:
    with _pool_lock:
        if _pool is not None:
            _pool.close()


def _forget_workers() -> None:
    """In a forked child: the parent's workers and pipes are the parent's; start afresh."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_workers)


_warned_ground_truths: set[str] = set()


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
        Against a ground truth that cannot be one (see ``ground_truth_problem``: None, NaN, empty, a container,
        "None"), every response scores 0.0 and a warning names the data source once per such ground truth: a group
        of zeros has zero advantage in GRPO, so the broken row teaches nothing, and ``\\boxed{None}`` never scores.

    Raises:
        WorkerStartError: no grading worker process can be started (no answer is graded without one).
    """
    predicted = extract_final_answer(solution_str, data_source)
    problem = ground_truth_problem(ground_truth)
    if problem is not None:
        key = f"{data_source}/{ground_truth!r:.200}"
        if key not in _warned_ground_truths:
            _warned_ground_truths.add(key)
            logger.warning("ground truth %s (data source %r); every response scores 0.0 against it",
                           problem, data_source)
        correct = False
    else:
        correct = grade_answer(predicted, str(ground_truth).strip())
    return {"score": 1.0 if correct else 0.0, "acc": correct, "pred": predicted or ""}
