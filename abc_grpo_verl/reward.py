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

- **A cost estimate first.** Some short answers make sympy work for minutes or for good (``9^{9^{9^{9}}}``,
  ``(10^9)!``), and a big-integer computation holds the GIL and ignores signals, so in-process it would freeze every
  thread and no timeout could stop it. ``grading_cost`` reads an answer without sympy, in microseconds, and sorts it:
  *refused* when it implies an exact number past the budget (or nests too deep to read): compared as text only
  (whitespace ignored); *costly* when sympy's work on it may be large but runs in interruptible Python code (big
  expansions, sums, integrals, limits, deep nesting): math-verify with a 1 s timeout per call; otherwise *ordinary*:
  math-verify with its own 5 s timeouts.
- **Grading in worker processes.** Everything not refused is graded by math-verify in one of ``WORKER_PROCESSES``
  child processes, each an independent ``python`` started with ``subprocess`` (which daemonic processes may do,
  unlike ``multiprocessing``), running math-verify in its main thread, where math-verify's own signal timeout works.
  A worker grades one answer at a time; the answer's deadline starts when the worker receives it, not while it waits
  for a free worker. A worker that misses the deadline (stuck in C code that no signal interrupts) is killed alone,
  its answer counted wrong; nothing else was queued on it. A fresh worker replaces it. Workers limit their CPU time
  and memory, a failed start is retried with backoff, and every worker is killed when the process exits.
- **Bad ground truths score nothing.** A ground truth that is None, NaN, empty, a container or the text of a null
  ("None", "nan", ...) is what a broken data row leaves; ``compute_score`` scores 0.0 against it, with a warning.
"""

import atexit
import contextlib
import enum
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

from abc_grpo_verl.answers import extract_final_answer, for_grading

logger = logging.getLogger(__name__)

# Per parse/verify call, in a worker's main thread (math-verify's own default).
MATH_VERIFY_TIMEOUT_S = 5
# Answers longer than this are graded wrong without parsing. Real final answers are far shorter; a long one could
# only burn its timeouts.
MAX_ANSWER_CHARS = 1000
# Both sides are wrapped in \boxed{} before parsing, so the LaTeX target finds them; the plain-expression target
# catches answers such as "1/2" that are not LaTeX.
EXTRACTION_TARGETS = (LatexExtractionConfig(), ExprExtractionConfig())

# The grading budget (see grading_cost). Exact numbers: past MAX_EXACT_DIGITS, math-verify would spend seconds to
# forever in big-integer C code that no timeout interrupts. Measured against the ground truth 3 on 2 loaded cores:
# 3^{200000} (95,425 digits) 0.3 s; 7^{10^7} (8.5 million digits) and 10^6! (5.6 million) over 5 s. Refused.
MAX_EXACT_DIGITS = 100_000  # digits of an exact rational sympy would compute
# Rationals up to this many digits are carried exactly by the estimate (so 1^{10^9} and 2^{2^3} are known small);
# larger ones by their size only. Arithmetic on them costs microseconds.
EXACT_DIGITS = 400
# Past these, sympy's work may be large but runs in Python code, which math-verify's timeout interrupts: the answer is
# costly, graded with COSTLY_MATH_VERIFY_TIMEOUT_S. Against 3: (x+1)^{99} (100 terms) 0.1-0.6 s, (x+1)^{300} 0.3 s,
# (x+y+1)^{200} (20,301 terms) over 5 s; yet (1+x)^{1000} against (x+1)^{1000}: 0.03 s.
MAX_EXPANDED_TERMS = 100  # terms of an integer power of a sum with a symbolic or irrational term, expanded
# |exponent| of a power of a symbol or an irrational number: sympy keeps x^{10^9} or e^{10^{10}} unevaluated, but
# rounding it, integrating it or taking its limit does work that grows with the exponent (\lfloor e^{10^{10}}\rfloor
# against 3: over 5 s).
MAX_SYMBOLIC_EXPONENT = 1000
# Bracket nesting: math-verify's LaTeX parser slows down steeply with it ({...} 10 deep: 0.9 s, 20 deep: over 5 s;
# (...) 20 deep: 3.4 s), while the benchmarks' ground truths nest at most 4 deep. Past COSTLY_NESTING an answer is
# costly. Past MAX_READING_DEPTH levels of brackets, fractions in fractions or exponents in exponents, the estimate
# stops reading, so that it never meets Python's recursion limit, and refuses the answer.
COSTLY_NESTING = 8
MAX_READING_DEPTH = 50

# Worker processes: how many, and how long an answer may take once its worker has it (gold parse, answer parse
# and verify may each use the math-verify timeout; the rest is room for a loaded machine). A worker's start (a few
# seconds of imports on a small machine) is bounded by WORKER_START_TIMEOUT_S and charged to no answer; a failed start
# is tried WORKER_START_ATTEMPTS times in all, WORKER_START_BACKOFF_S apart, then twice that, ...
WORKER_PROCESSES = max(1, min(4, os.cpu_count() or 1))
COSTLY_MATH_VERIFY_TIMEOUT_S = 1  # math-verify's timeout is a signal.alarm: whole seconds
TASK_DEADLINE_S = 3 * MATH_VERIFY_TIMEOUT_S + 5
COSTLY_TASK_DEADLINE_S = 3 * COSTLY_MATH_VERIFY_TIMEOUT_S + 5
WORKER_START_TIMEOUT_S = 120
WORKER_START_ATTEMPTS = 3
WORKER_START_BACKOFF_S = 2.0
# A worker also limits its own CPU time per answer, so that one whose parent died (and so cannot kill it) still
# stops: the kernel ends it with SIGXCPU past this many CPU seconds on one answer.
TASK_CPU_LIMIT_S = 2 * TASK_DEADLINE_S
# A worker's address space (RLIMIT_AS) in MiB, from this environment variable (0: no limit). A worker needs about
# 70 MiB. Past the limit an allocation fails with MemoryError, and that answer counts wrong; a worker whose peak
# address space passed half its limit is replaced after the answer, so that nothing it kept can starve the next one.
WORKER_MEMORY_ENV = "ABC_GRPO_REWARD_WORKER_MEMORY_MB"
WORKER_MEMORY_MB = 2048
MIN_WORKER_MEMORY_MB = 128

# Ground truths that a broken data row leaves behind: str() of None / NaN, JSON's null.
NULL_SPELLINGS = frozenset({"none", "null", "nan"})


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
    deadline, a worker out of memory or any other error counts as wrong, so a bad sample cannot stop training. An
    answer (or ground truth) the grading budget refuses is compared as text, whitespace ignored; a costly one is
    graded with math-verify's timeout cut to COSTLY_MATH_VERIFY_TIMEOUT_S; everything is graded in a worker process
    (see the module docstring). WorkerStartError (a RuntimeError) when none can be started at all.
    """
    if answer is None or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        return False
    answer, ground_truth = for_grading(answer), for_grading(ground_truth)
    cost = max(grading_cost(answer), grading_cost(ground_truth))
    if cost is GradingCost.REFUSED:
        logger.debug("answer %.200r or ground truth %.200r is past the grading budget; compared as text",
                     answer, ground_truth)
        return _without_whitespace(answer) == _without_whitespace(ground_truth)
    return _workers().grade(answer, ground_truth, costly=cost is GradingCost.COSTLY)


def _without_whitespace(text: str) -> str:
    return "".join(text.split())


def _parse_and_verify(answer: str, ground_truth: str, timeout_s: int = MATH_VERIFY_TIMEOUT_S) -> bool:
    """math-verify's verdict on `answer` against `ground_truth`, each call limited to `timeout_s` (so: in a main
    thread only). Any failure, a timeout included, counts as wrong; a MemoryError outside math-verify (which counts
    its own as a failed comparison) is raised, for the worker to retire."""
    try:
        gold = parse(f"\\boxed{{{ground_truth}}}", EXTRACTION_TARGETS, parsing_timeout=timeout_s)
        predicted = parse(f"\\boxed{{{answer}}}", EXTRACTION_TARGETS, parsing_timeout=timeout_s)
        if not gold or not predicted:
            return False
        return bool(verify(gold, predicted, timeout_seconds=timeout_s))
    except MemoryError:
        raise
    except (Exception, TimeoutException):  # TimeoutException derives from BaseException
        logger.debug("math-verify failed on answer %r vs ground truth %r", answer, ground_truth, exc_info=True)
        return False


# --------------------------------------------------------------------------------------------------------------
# The grading budget: a cost estimate of an answer without sympy.
# --------------------------------------------------------------------------------------------------------------


class GradingCost(enum.IntEnum):
    """How an answer is graded (see ``grading_cost``); a pair is graded as the costlier of its two sides."""

    ORDINARY = 0  # math-verify with its own timeouts (MATH_VERIFY_TIMEOUT_S)
    COSTLY = 1  # math-verify with COSTLY_MATH_VERIFY_TIMEOUT_S: large, interruptible work
    REFUSED = 2  # compared as text: exact numbers past the budget, which no timeout could interrupt


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
    # p, then takes a root), or expands a sum to that power. Bases 0, 1 and -1 have 0 digits. A number, a product or
    # a root is raised at once, in big-integer code no signal interrupts ((2x)^{10^9} holds 2^{10^9}); a sum with a
    # symbolic or irrational term stays unexpanded until a comparison expands it, term by term, in Python code that
    # math-verify's timeout interrupts: its coefficients' digits make it costly (its terms), not refused.
    work = _magnitude(exponent)
    integral = exponent.exact is not None and exponent.exact.denominator == 1
    terms = _expanded_terms(base.terms, work) if integral else 1
    digits = work * base.digits if base.digits else 0.0
    if digits > MAX_EXACT_DIGITS and (base.rational or base.terms == 1):
        raise _OverBudget
    if base.exact is not None and integral and digits <= EXACT_DIGITS and (base.exact or exponent.exact >= 0):
        return _rational(base.exact ** int(exponent.exact))
    return _Size(digits=max(digits, base.digits), rational=base.rational and integral, terms=terms)


def _expanded_terms(terms: float, exponent: float) -> float:
    """The number of terms of a sum of `terms` terms raised to `exponent`, multinomially expanded:
    C(exponent + terms - 1, terms - 1) (inf past a float)."""
    if terms == 1 or exponent <= 1:
        return terms if exponent else 1
    if exponent > 1e15 or not math.isfinite(terms):
        return math.inf
    log_count = math.lgamma(exponent + terms) - math.lgamma(terms) - math.lgamma(exponent + 1)
    return math.exp(log_count) if log_count < 700 else math.inf


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
                      "\\limits", "\\nolimits",
                      "\\rvert", "\\vert", "\\displaystyle", "\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl",
                      "\\Bigr", "\\big", "\\Big", "\\biggl", "\\biggr", "$", "\\mathrm", "\\mathbf", "\\mathit",
                      "\\boldsymbol", "\\mathbb", "\\mathcal"})
_TEXT_COMMANDS = frozenset({"\\text", "\\textbf", "\\textit", "\\textrm", "\\mbox", "\\operatorname", "\\label"})
_FRACTIONS = frozenset({"\\frac", "\\dfrac", "\\tfrac", "\\cfrac"})
# Operators whose evaluation runs sympy's open-ended algorithms (summation, integration, limits): always costly. Their
# subscript is a bound (computed), not part of a name.
_CALCULUS = frozenset({"\\sum", "\\prod", "\\int", "\\iint", "\\iiint", "\\oint", "\\lim", "\\limsup",
                       "\\liminf"})
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
    reads as symbols or separators. Reading raises _OverBudget at the first subexpression past the budget, and
    notes in `costly` whether any is costly (see grading_cost).
    """

    def __init__(self, text: str):
        self.tokens = [token for token in _TOKEN.findall(text) if token not in _SPACING]
        self.position = 0
        self.nesting = 0  # brackets
        self.depth = 0  # recursion of the reading
        self.costly = False

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.position += 1
        return token

    def sequence(self, closing: str | None) -> _Size:
        """Expressions up to `closing` (None: the end), separated by whatever is not an operator (, = < ;)."""
        nesting = self.nesting + (closing is not None)
        self.costly |= nesting > COSTLY_NESTING
        self.nesting, outer = nesting, self.nesting
        sizes = []
        while self.peek() is not None and self.peek() != closing:
            start = self.position
            sizes.append(self.sum())
            if self.position == start:
                self.take()  # a separator or a stray closing bracket
        self.take()
        self.nesting = outer
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
                size = self.expansion(_multiply(size, self.signed(), divide=token in _QUOTIENTS))
            elif self.starts_atom(token):  # implicit multiplication: 2x, 3\sqrt{2}, \sin(x)
                size = self.expansion(_multiply(size, self.power()))
            else:
                return size

    def expansion(self, size: _Size) -> _Size:
        """`size`, noted costly when expanding it would give more than MAX_EXPANDED_TERMS terms."""
        self.costly |= size.terms > MAX_EXPANDED_TERMS
        return size

    def signed(self) -> _Size:
        while self.peek() in _SUMS:
            self.take()
        return self.power()

    def power(self) -> _Size:
        size = self.postfix(self.atom())
        while self.peek() in _POWERS:
            self.take()
            exponent = self.exponent()
            self.costly |= (not size.rational and exponent.rational
                            and _magnitude(exponent) > MAX_SYMBOLIC_EXPONENT)
            size = self.postfix(self.expansion(_power(size, exponent)))
        return size

    def exponent(self) -> _Size:
        """A braced exponent, or an unbraced one with the powers it carries: a^b^c is read a^(b^c), the larger of
        its two readings. Its sign does not change the work."""
        while self.peek() in _SUMS:
            self.take()
        self.enter()
        size = self.atom() if self.peek() in _OPENING else self.power()
        self.depth -= 1
        return size

    def enter(self) -> None:
        """Count one more level of the reading's recursion (atoms within atoms, exponents within exponents)."""
        self.depth += 1
        if self.depth > MAX_READING_DEPTH:
            raise _OverBudget

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
        self.enter()
        size = self.read_atom()
        self.depth -= 1
        return size

    def read_atom(self) -> _Size:
        token = self.peek()
        if not self.starts_atom(token):
            return _SYMBOL
        self.take()
        if _NUMBER.fullmatch(token):
            return _rational(Fraction(token))
        if token in _OPENING:
            return self.sequence(_OPENING[token])
        if token in _FRACTIONS:
            return self.expansion(_multiply(self.argument(), self.argument(), divide=True))
        if token in _BINOMIALS:
            return _binomial(self.argument(), self.argument())
        if token == "\\Gamma" and self.peek() in _OPENING:  # the gamma function: Gamma(n) = (n - 1)!
            return _factorial(_add(self.atom(), _rational(Fraction(-1))))
        if token in _CALCULUS:
            self.costly = True
            if self.peek() == "_":
                self.take()
                self.argument()
            return _SYMBOL
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
        if token is not None and _NUMBER.fullmatch(token) and len(token) > 1 and token[:2].isdecimal():
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
def grading_cost(text: str) -> GradingCost:
    """How comparing `text` would make sympy work, estimated from the text alone in microseconds.

    REFUSED: an exact rational of more than MAX_EXACT_DIGITS digits (``9^{9^{9}}``, ``(10^6)!``, ``\\Gamma(10^9)``,
    ``\\binom{10^9}{10^8}``, the 2^{10^7} in ``(2x)^{10^7}``), or nesting past MAX_READING_DEPTH, which the estimate
    does not read to the end (so that it never meets Python's recursion limit).
    COSTLY: an expansion of more than MAX_EXPANDED_TERMS terms (``(x+1)^{100}``, ``(1+\\sqrt{2})^{10^9}``), a power of a
    symbol or irrational past MAX_SYMBOLIC_EXPONENT (``e^{10^{10}}``), a sum, product, integral or limit, or brackets
    nested more than COSTLY_NESTING deep. ORDINARY: the rest, which the estimate lets through generously (what it does
    not understand counts as a symbol), under math-verify's own timeouts and the worker's deadline.
    """
    estimate = _Estimate(text)
    try:
        estimate.sequence(None)
    except (_OverBudget, RecursionError):  # RecursionError: the caller's stack was already deep
        return GradingCost.REFUSED
    except Exception:  # a flaw of the reading must not fail the grade: the deadline still bounds the answer
        logger.warning("the grading budget could not read %.200r; graded as costly", text, exc_info=True)
        return GradingCost.COSTLY
    return GradingCost.COSTLY if estimate.costly else GradingCost.ORDINARY


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
worker.serve_grading_requests(int(sys.argv[2]))
"""


def serve_grading_requests(memory_limit_mb: int) -> None:
    """A worker's main loop: read ``[answer, ground_truth, timeout_s]`` JSON lines on stdin, answer each with a line
    "1" (equivalent) or "0", followed by " exit" when the worker stops after that answer because its memory ran out
    or its peak address space passed half of `memory_limit_mb` (0: no limit). It also exits at the end of stdin (the
    parent closed it, or died) and, quietly, when the parent no longer reads the replies.

    Runs in the worker's main thread, where math-verify's signal timeout works. The first line written is "ready",
    once math-verify has graded 1 = 1, or "error <reason>". Whatever else writes to stdout goes to stderr, so that
    only replies reach the parent.
    """
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent decides
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))  # no SIGXCPU core
    if memory_limit_mb:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_limit_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    try:
        ready = _parse_and_verify("1", "1")
    except MemoryError:
        ready = False
    if not ready:
        limit = f" within {WORKER_MEMORY_ENV}={memory_limit_mb} MiB" if memory_limit_mb else ""
        replies.write(f"error {json.dumps(f'math-verify grades 1 = 1 wrong{limit}')}\n".encode())
        return
    replies.write(b"ready\n")
    with contextlib.suppress(BrokenPipeError):  # the parent exited while this worker was grading
        for line in sys.stdin.buffer:
            if not line.endswith(b"\n"):  # cut off: the parent died while writing it
                return
            answer, ground_truth, timeout_s = json.loads(line)
            _limit_cpu_time(TASK_CPU_LIMIT_S)
            try:
                verdict = _parse_and_verify(answer, ground_truth, timeout_s)
                retire = memory_limit_mb and _peak_memory_bytes() > (memory_limit_mb << 20) // 2
            except MemoryError:
                verdict, retire = False, True
            replies.write(b"1" if verdict else b"0")
            replies.write(b" exit\n" if retire else b"\n")
            if retire:
                return


def _limit_cpu_time(seconds: float) -> None:
    """Let the kernel end this process (SIGXCPU) once it has used `seconds` more CPU time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _peak_memory_bytes() -> int:
    """This process's peak address space (what RLIMIT_AS limits), from /proc; elsewhere its peak resident size.
    Not ru_maxrss on Linux: it keeps the peak of the process image before exec, here the parent's."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) << 10 for line in status if line.startswith("VmPeak:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS


def worker_memory_limit_mb() -> int:
    """The workers' memory limit in MiB: WORKER_MEMORY_ENV when set (0: none), else WORKER_MEMORY_MB."""
    text = os.environ.get(WORKER_MEMORY_ENV)
    return WORKER_MEMORY_MB if text is None else parse_worker_memory_mb(f"environment variable {WORKER_MEMORY_ENV}",
                                                                        text)


def parse_worker_memory_mb(label: str, text: str) -> int:
    """A worker memory limit in MiB as written under `label` (the variable, or its copy in a Ray runtime_env)."""
    value = int(text) if text.strip().isdecimal() else -1
    if value != 0 and value < MIN_WORKER_MEMORY_MB:
        raise ValueError(f"{label}={text!r} is invalid: need a whole number of MiB, 0 (no limit) or at least "
                         f"{MIN_WORKER_MEMORY_MB}; unset, it is {WORKER_MEMORY_MB}")
    return value


class WorkerStartError(RuntimeError):
    """No grading worker could be started (the reason is in the message)."""


# Every worker this process started and has not killed, busy or idle, whichever pool it serves: killed at exit, and
# its pipes closed in a forked child.
_live_workers: set["_Worker"] = set()
_live_workers_lock = threading.Lock()


class _Worker:
    """One grading process and the two pipe ends that talk to it; used by one thread at a time."""

    def __init__(self, memory_limit_mb: int):
        self.memory_limit_mb = memory_limit_mb
        self.process: subprocess.Popen | None = None
        self.kill_lock = threading.Lock()
        worker_stdin, self.requests = os.pipe()
        self.replies, worker_stdout = os.pipe()
        with _live_workers_lock:
            _live_workers.add(self)  # before it exists, so that a fork meanwhile closes these pipes too
        command = [sys.executable, "-c", _WORKER_BOOTSTRAP, os.path.abspath(__file__), str(memory_limit_mb)]
        try:
            self.process = subprocess.Popen(command, stdin=worker_stdin, stdout=worker_stdout)
        except OSError as error:
            self.kill()
            raise WorkerStartError(f"cannot start a grading worker ({sys.executable}): {error}") from error
        finally:
            os.close(worker_stdin)
            os.close(worker_stdout)
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

    def grade(self, answer: str, ground_truth: str, timeout_s: int, deadline_s: float) -> tuple[bool | None, bool]:
        """(the worker's verdict, whether it retired): verdict None when it died or missed `deadline_s`, counted from
        now (it is then killed). OSError when it was gone before it could take the answer."""
        request = memoryview(json.dumps([answer, ground_truth, timeout_s]).encode() + b"\n")
        while request:
            request = request[os.write(self.requests, request):]
        reply = self._read_line(time.monotonic() + deadline_s)
        verdict, _, retire = (reply or "").partition(" ")
        if verdict in ("0", "1") and retire in ("", "exit"):
            return verdict == "1", retire == "exit"
        self.kill()
        return None, False

    def _read_line(self, deadline: float) -> str | None:
        """The next line from the worker, or None at its end of output or past `deadline`."""
        poller = select.poll()  # not select.select: a Ray process may hold file descriptors above 1024
        poller.register(self.replies, select.POLLIN)
        received = b""
        while not received.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                return None
            chunk = os.read(self.replies, 4096)
            if not chunk:
                return None
            received += chunk
        return received.decode(errors="replace").strip()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """Kill the process, reap it, close the pipes; from any thread, any number of times."""
        with self.kill_lock:
            if self.process is not None and self.process.returncode is None:
                self.process.kill()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    logger.warning("grading worker %d did not exit after SIGKILL", self.process.pid)
            self.close_pipes()
        with _live_workers_lock:
            _live_workers.discard(self)

    def close_pipes(self) -> None:
        for name in ("requests", "replies"):
            descriptor = getattr(self, name)
            setattr(self, name, -1)
            if descriptor >= 0:
                with contextlib.suppress(OSError):
                    os.close(descriptor)


def _start_worker() -> _Worker:
    """A worker that reported ready. A failed start is retried, with backoff, up to WORKER_START_ATTEMPTS times in
    all (a loaded node may refuse a process for a moment, or start it slowly); WorkerStartError after the last."""
    memory_limit_mb = worker_memory_limit_mb()
    attempt, delay = 1, WORKER_START_BACKOFF_S
    while True:
        try:
            return _Worker(memory_limit_mb)
        except WorkerStartError as error:
            if attempt == WORKER_START_ATTEMPTS:
                raise WorkerStartError(f"{error} (attempt {attempt} of {WORKER_START_ATTEMPTS})") from error
            logger.warning("%s (attempt %d of %d); trying again in %g s", error, attempt, WORKER_START_ATTEMPTS, delay)
        time.sleep(delay)
        attempt, delay = attempt + 1, 2 * delay


class _WorkerPool:
    """Up to `size` workers, started on demand; a caller waits for a free one, then has it alone."""

    def __init__(self, size: int = WORKER_PROCESSES):
        self.free_slots = threading.Semaphore(size)
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.closed = False

    def grade(self, answer: str, ground_truth: str, costly: bool = False) -> bool:
        timeout_s, deadline_s = ((COSTLY_MATH_VERIFY_TIMEOUT_S, COSTLY_TASK_DEADLINE_S) if costly
                                 else (MATH_VERIFY_TIMEOUT_S, TASK_DEADLINE_S))
        with self.free_slots:
            with self.lock:
                if self.closed:  # the process is exiting: no new workers
                    logger.debug("grading pool closed; answer %.200r counted wrong", answer)
                    return False
                worker = self.idle.pop() if self.idle else None
            verdict, retired = None, False
            for _ in range(2):  # a worker found gone before it took the answer is replaced, once
                if worker is None or not worker.alive():
                    if worker is not None:
                        worker.kill()
                    worker = _start_worker()
                try:
                    verdict, retired = worker.grade(answer, ground_truth, timeout_s, deadline_s)
                    break
                except OSError:
                    worker.kill()
                    worker = None
            if verdict is None and not self.closed:
                logger.warning("math-verify took over %s s on answer %.200r (ground truth %.200r), or its worker "
                               "died; counted wrong, worker replaced", deadline_s, answer, ground_truth)
            elif retired:
                logger.warning("grading worker ran out of memory or near its limit (%s=%d MiB) on answer %.200r "
                               "(ground truth %.200r); worker replaced", WORKER_MEMORY_ENV, worker.memory_limit_mb,
                               answer, ground_truth)
            with self.lock:
                if worker is not None and not retired and worker.alive() and not self.closed:
                    self.idle.append(worker)
                    worker = None
            if worker is not None:
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
def _kill_workers() -> None:
    """At exit, every worker goes: the idle ones, and the busy ones that daemon threads still wait on (left alive, they
    would hold this process's stderr open, and write to a closed pipe when done)."""
    with _pool_lock:
        if _pool is not None:
            _pool.close()
    with _live_workers_lock:
        busy = list(_live_workers)
    for worker in busy:
        if worker.process is not None:
            with contextlib.suppress(OSError):
                worker.process.kill()  # its thread reaps it and closes its pipes, or the exit does


def _forget_workers() -> None:
    """In a forked child: the parent's workers are the parent's. Close the child's copies of their pipes (so that a
    worker still sees the end of its input when the parent exits), and start afresh. Only this thread runs here, and
    a lock another thread held at the fork stays held, so locks are replaced, never taken."""
    global _pool, _pool_lock, _live_workers, _live_workers_lock
    for worker in list(_live_workers):
        worker.close_pipes()
        worker.process = None  # not this process's child
    _pool, _pool_lock = None, threading.Lock()
    _live_workers, _live_workers_lock = set(), threading.Lock()


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
        TypeError: `solution_str` is not a str, or `data_source` neither a str nor None.
        WorkerStartError: no grading worker process can be started (no answer is graded without one).
        ValueError: the environment variable WORKER_MEMORY_ENV is set to something other than a whole number of MiB
            (0, or at least MIN_WORKER_MEMORY_MB).
    """
    # verl passes the decoded response and the row's data_source; anything else is a caller's bug, named here
    # rather than deep in a regex
    for name, value, kinds, expected in (
            ("solution_str", solution_str, str, "a str, the decoded response text"),
            ("data_source", data_source, str | None, "a str or None, the row's data_source")):
        if not isinstance(value, kinds):
            raise TypeError(f"compute_score: {name} must be {expected}; got a {type(value).__name__} ({value!r:.80})")
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
