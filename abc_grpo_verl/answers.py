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
"""Reading a response's final answer, and writing answers as math-verify reads them.

Self-contained text handling for the reward (`abc_grpo_verl.reward`): no math-verify, no sympy, no verl.
"""

import re
from fractions import Fraction

# `\boxed{...}` and its unboxed-frame twin `\fbox{...}`; the group's end is the opening brace.
BOX_OPENING = re.compile(r"\\(?:boxed|fbox)\s*\{")
# TeX's brace-less argument, `\boxed 5` (`$\boxed 5$`), read only in a response without a braced box: the box
# holds the one token after the space (verl's math_reward.py also accepts the form, reading up to the next `$`); a
# sentence's full stop after it is not part of the answer.
BARE_BOX = re.compile(r"\\(?:boxed|fbox)[ \t]+([^\s{$][^\s$]*?)[.,;:]?(?=[\s$]|$)")
# GSM8K's reference format, "#### 1,234"; the number may carry a sign, thousands separated by commas or (SI style)
# spaces, and decimals, and a dollar sign before it ("#### $18", plain or escaped), as models write amounts of money.
GSM8K_ANSWER = re.compile(
    r"####\s*(?:\\?\$\s*)?([-+]?(?:[0-9]{1,3}(?:[ \u2009\u202f][0-9]{3})+(?![0-9])|[0-9][0-9,]*)(?:\.[0-9]+)?)")
GSM8K_SEPARATORS = str.maketrans("", "", ", \u2009\u202f")
# Full-width forms (U+FF01..U+FF5E, "５", "＋") are ASCII to a reader, and the ideographic space (U+3000) a space;
# only they are mapped (not NFKC, which would also turn x² into x2).
FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# A repeating decimal, 0.1\overline{6}: math-verify reads it as 0.1 times a bar, so it is graded as its exact fraction.
# Its sign stays in the text (x+0.\overline{3} is a sum); what precedes it must not continue a number or a name
# (1.2.\overline{3}, AB.\overline{12} are left to math-verify as written).
REPEATING_DECIMAL = re.compile(r"(?<![0-9A-Za-z.])([0-9]*)\.([0-9]*)\\overline\{([0-9]+)\}")


def is_gsm8k_source(data_source: str | None) -> bool:
    """Whether `data_source` names GSM8K (``openai/gsm8k`` or any source containing "gsm8k")."""
    return data_source is not None and "gsm8k" in data_source.lower()


def last_boxed_content(text: str) -> str | None:
    """The contents of the last ``\\boxed{...}`` / ``\\fbox{...}`` in `text`, braces matched.

    Escaped braces (``\\{``, ``\\}``) are content, not grouping. None when the last box is never closed (a response
    cut off by the length limit has no final answer, whatever it boxed earlier). Without any braced box, the token
    of the last brace-less ``\\boxed 5`` (a later "\\boxed" in prose does not replace a braced answer), else None.
    """
    openings = list(BOX_OPENING.finditer(text))
    if not openings:
        bare = next(reversed(list(BARE_BOX.finditer(text))), None)
        return None if bare is None else bare.group(1)
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
        return boxed.strip()  # as written: grading maps full-width forms on both sides
    if is_gsm8k_source(data_source):
        # the pattern reads ASCII digits: a full-width number (#### ４２) is found in the mapped text
        text = solution_str if solution_str.isascii() else solution_str.translate(FULL_WIDTH)
        numbers_found = GSM8K_ANSWER.findall(text)
        if numbers_found:
            return numbers_found[-1].translate(GSM8K_SEPARATORS).removeprefix("+")
    return None


def for_grading(text: str) -> str:
    """`text` as math-verify should read it: full-width forms as ASCII, repeating decimals as exact fractions.

    Applied to the answer and the ground truth alike, so that a full-width ground truth ("５", "（1,2）") still
    equals what it equalled as written.
    """
    return exact_repeating_decimals(text if text.isascii() else text.translate(FULL_WIDTH))


def exact_repeating_decimals(text: str) -> str:
    """`text` with each repeating decimal (``0.\\overline{3}``, ``-1.2\\overline{45}``) as its exact fraction."""
    if "\\overline" not in text:
        return text

    def fraction(match: re.Match) -> str:
        whole, fixed, repeating = match.groups()
        value = int(whole or 0) + (Fraction(int(fixed or 0)) + Fraction(int(repeating), 10 ** len(repeating) - 1)) / (
            10 ** len(fixed))
        # braced, one term whatever precedes it: 2^0.\overline{3} is 2^{1/3}
        return f"{{\\frac{{{value.numerator}}}{{{value.denominator}}}}}"

    return REPEATING_DECIMAL.sub(fraction, text)
