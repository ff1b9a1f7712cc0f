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
"""What the training-data scripts (``examples/data_preprocess``) and the evaluation (``abc_grpo_verl.eval``) share,
written once so that the two cannot drift apart: the paper's prompt, what a usable problem and ground truth are,
how an answer value becomes ground-truth text, and how a JSONL file is read.

- **Prompt**: one user turn, the paper's instruction, one space, the problem (surrounding whitespace removed).
- **Problem text**: a non-empty string.
- **Ground truth**: whatever the reward accepts (``abc_grpo_verl.reward.ground_truth_problem``: text or a finite
  number; never null, empty, a container, a bool or the text of a null such as "None"), written as text: a number
  that is an integer is written as that integer (27.0 -> "27"), any other number as Python writes it (112.5 ->
  "112.5"), text with its surrounding whitespace removed.
- **JSONL**: UTF-8 (a leading byte-order mark allowed), one JSON value per line, lines split on "\\n" only (U+2028,
  U+2029 and U+0085 are legal inside JSON strings, so ``str.splitlines`` would cut valid rows apart), blank lines
  skipped but counted, so a line number is what an editor shows.
- **Output folders**: ``--output-dir`` must be a folder or creatable as one (see ``output_dir_problem``).
"""

import codecs
import json
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abc_grpo_verl.reward import ground_truth_problem

# The paper's instruction (arXiv 2601.03895): the authors' eval_math prompt (qwen25-math-cot) and their training
# configs' system_prompt.
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


class DataError(ValueError):
    """A data file, record or value that cannot be used; the message names the file, line and field."""


class BadValueError(DataError):
    """A field's value that cannot be used; the message reads after the field's name: "is null", "is empty", ..."""


def prompt_content(problem: str) -> str:
    """The text of the user turn for `problem`: the paper's instruction, one space, the problem without surrounding
    whitespace (the Qwen2.5-Math evaluation toolkit, whose qwen25-math-cot prompt the authors' eval uses, strips its
    questions too)."""
    return f"{INSTRUCTION} {problem.strip()}"


def prompt_messages(problem: str) -> list[dict[str, str]]:
    """The chat prompt for `problem`: one user turn (verl's ``prompt`` column; the evaluation's chat template input)."""
    return [{"role": "user", "content": prompt_content(problem)}]


def problem_text(value: Any) -> str:
    """`value` itself when it is non-empty text; BadValueError otherwise."""
    if value is None:
        raise BadValueError("is null")
    if not isinstance(value, str):
        raise BadValueError(f"is of type {type(value).__name__} ({value!r:.80}), not text")
    if not value.strip():
        raise BadValueError("is empty")
    return value


def ground_truth_text(value: Any) -> str:
    """`value` as the ground-truth text the reward compares against; BadValueError, by the reward's own rule
    (``ground_truth_problem``), when it cannot be one. An integral number is written as an integer: 27.0 -> "27"."""
    problem = ground_truth_problem(value)
    if problem is not None:
        raise BadValueError(problem)
    if isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer()):
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True)
class JsonLine:
    """One non-blank line of a JSONL file: its 1-based line number, ``"<file>:<line>"`` for messages, and its value,
    or (value None) why the line is not valid JSON."""

    number: int
    where: str
    value: Any
    error: str | None = None


def read_utf8(path: Path) -> str:
    """The text of `path` (a leading UTF-8 byte-order mark dropped); a DataError naming the line, column and byte
    when it is not UTF-8."""
    data = Path(path).read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x} at column "
                        f"{error.start - line_start + 1}); save the file as UTF-8") from None


def describe_json_error(error: json.JSONDecodeError) -> str:
    """``not valid JSON (<what> at column <n>)``; some of json's messages already end in "at"."""
    return f"not valid JSON ({error.msg.removesuffix(' at')} at column {error.colno})"


def parse_jsonl(text: str, path: Path) -> list[JsonLine]:
    """Every non-blank line of `text`, the contents of the JSONL file `path`, parsed; a line that is not valid JSON
    comes with its error (the caller refuses or skips it)."""
    lines = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            lines.append(JsonLine(number, where, json.loads(line)))
        except json.JSONDecodeError as error:
            lines.append(JsonLine(number, where, None, describe_json_error(error)))
    return lines


def read_jsonl(path: Path) -> list[JsonLine]:
    """`parse_jsonl` of the UTF-8 file `path`."""
    return parse_jsonl(read_utf8(path), path)


def output_dir_problem(path: Path) -> str | None:
    """Why `path` cannot be (or become) an output folder, or None: it, or the nearest of its parents that exists, is
    a file (mkdir would fail with FileExistsError or NotADirectoryError deep in the write)."""
    for existing in (path, *path.parents):
        if existing.exists():
            if existing.is_dir():
                return None
            inside = "" if existing == path else f" (it would be inside {existing})"
            return f"--output-dir {path} is not a folder{inside}: {existing} is an existing file; give a folder"
    return None
