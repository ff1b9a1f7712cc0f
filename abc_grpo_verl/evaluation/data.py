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
"""Benchmark files and the paper's prompt.

A benchmark is ``<data-dir>/<name>.jsonl``: one JSON object per line with ``id`` (string or integer, unique),
``problem`` (non-empty string) and ``answer`` (string or number). ``examples/eval_data/prepare_eval_data.py``
writes aime24, aime25, amc23 and math500 in this format; any other file that follows it works too.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

# The paper's evaluation prompt (qwen25-math-cot in the authors' eval_math): this instruction, one space, the problem,
# as a single user turn, zero-shot.
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
# The authors' hand-written ChatML, used when the tokenizer has no chat template (or with --prompt-format chatml).
CHATML = "<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"
PROMPT_FORMATS = ("auto", "chatml")
# --enable-thinking: "auto" passes nothing (the template's own default; Qwen3: thinking on, as in the paper's runs),
# "true"/"false" pass enable_thinking= to apply_chat_template, as verl's data.apply_chat_template_kwargs does.
THINKING_MODES = ("auto", "true", "false")
# The datasets prepare_eval_data.py knows how to fetch; other names are read from --data-dir all the same.
KNOWN_BENCHMARKS = ("aime24", "aime25", "amc23", "math500")
REQUIRED_FIELDS = ("id", "problem", "answer")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class DataError(ValueError):
    """A benchmark name or file, or a prompt setting, that cannot be used; the message names the file, line and field
    (or the flags)."""


@dataclass(frozen=True)
class Problem:
    id: str
    problem: str
    answer: str


def answer_to_str(value: object) -> str:
    """Ground truth as text: integral floats lose their ``.0`` (some hub copies store AMC answers as 27.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_benchmark_names(spec: str) -> list[str]:
    """``aime24,amc23`` -> ``["aime24", "amc23"]``; names are file stems, so no paths or duplicates."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise DataError(f"--benchmarks is empty; give a comma-separated list such as {','.join(KNOWN_BENCHMARKS)}")
    for name in names:
        if not _NAME.fullmatch(name):
            raise DataError(f"--benchmarks: {name!r} is not a valid name (letters, digits, '_', '-', '.')")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"--benchmarks lists {duplicates} more than once")
    return names


def benchmark_file(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / f"{name}.jsonl"


def load_benchmark(data_dir: Path, name: str) -> list[Problem]:
    """The problems of benchmark `name`, in file order; a clear DataError on any missing or malformed entry."""
    path = benchmark_file(data_dir, name)
    if not path.is_file():
        hint = (
            f"; write it with: python examples/eval_data/prepare_eval_data.py "
            f"--output-dir {data_dir} --benchmarks {name}"
            if name in KNOWN_BENCHMARKS
            else f"; a benchmark file holds one JSON object per line with the fields {list(REQUIRED_FIELDS)}"
        )
        raise DataError(f"benchmark {name!r}: file {path} not found{hint}")
    problems, seen = [], {}
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {line_no}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
            missing = [field for field in REQUIRED_FIELDS if field not in row or row[field] is None]
            if missing:
                raise DataError(f"{where}: missing field {missing[0]!r} (every line needs {list(REQUIRED_FIELDS)})")
            problem_id, problem, answer = row["id"], row["problem"], row["answer"]
            if isinstance(problem_id, bool) or not isinstance(problem_id, (str, int)) or not str(problem_id).strip():
                raise DataError(f"{where}: field 'id' must be a non-empty string or an integer, got {problem_id!r}")
            if not isinstance(problem, str) or not problem.strip():
                raise DataError(f"{where}: field 'problem' must be a non-empty string")
            if isinstance(answer, bool) or not isinstance(answer, (str, int, float)) or not answer_to_str(answer):
                raise DataError(f"{where}: field 'answer' must be a non-empty string or a number, got {answer!r}")
            problem_id = str(problem_id).strip()
            if problem_id in seen:
                raise DataError(f"{where}: duplicate id {problem_id!r} (first on line {seen[problem_id]})")
            seen[problem_id] = line_no
            problems.append(Problem(id=problem_id, problem=problem, answer=answer_to_str(answer)))
    if not problems:
        raise DataError(f"benchmark {name!r}: file {path} holds no problems")
    return problems


def template_kwargs(prompt_format: str, enable_thinking: str = "auto") -> dict:
    """The extra keyword arguments for ``apply_chat_template``: ``{}`` for ``auto``, else ``{"enable_thinking": ...}``.

    A non-``auto`` value with ``--prompt-format chatml`` is refused: the hand-written ChatML has no thinking switch.
    """
    if prompt_format not in PROMPT_FORMATS:
        raise DataError(f"--prompt-format must be one of {PROMPT_FORMATS}, got {prompt_format!r}")
    if enable_thinking not in THINKING_MODES:
        raise DataError(f"--enable-thinking must be one of {THINKING_MODES}, got {enable_thinking!r}")
    if enable_thinking == "auto":
        return {}
    if prompt_format == "chatml":
        raise DataError(
            f"--enable-thinking {enable_thinking} only applies to the tokenizer's chat template, but --prompt-format "
            "chatml writes the paper's ChatML by hand; use --prompt-format auto, or leave --enable-thinking at auto"
        )
    return {"enable_thinking": enable_thinking == "true"}


def uses_chat_template(tokenizer, prompt_format: str) -> bool:
    """Whether `render_prompt` applies the tokenizer's chat template (else the paper's hand-written ChatML)."""
    if prompt_format not in PROMPT_FORMATS:
        raise DataError(f"--prompt-format must be one of {PROMPT_FORMATS}, got {prompt_format!r}")
    return prompt_format == "auto" and bool(getattr(tokenizer, "chat_template", None))


def template_reads_thinking(tokenizer) -> bool:
    """Whether the tokenizer's chat template mentions ``enable_thinking`` at all (else the flag changes nothing)."""
    return "enable_thinking" in str(getattr(tokenizer, "chat_template", None) or "")


def render_prompt(tokenizer, question: str, prompt_format: str, enable_thinking: str = "auto") -> str:
    """The prompt text for one problem.

    ``auto`` applies the tokenizer's chat template when it has one, so a model is asked in the format it was trained
    on (verl's rollout applies the same template); for Qwen3 tokenizers this gives exactly the paper's ChatML string,
    as their template adds no default system prompt and leaves thinking on unless ``enable_thinking=False`` is passed.
    ``chatml`` always uses the paper's hand-written ChatML (the authors' eval did not apply the template).

    `enable_thinking` (``auto``, ``true``, ``false``) is passed to the template as verl's
    ``data.apply_chat_template_kwargs.enable_thinking`` is during training; ``auto`` passes nothing. A non-``auto``
    value needs the chat template: with ``chatml``, or a tokenizer without a template, it is a DataError.
    """
    kwargs = template_kwargs(prompt_format, enable_thinking)
    content = f"{INSTRUCTION} {question}"
    if uses_chat_template(tokenizer, prompt_format):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True, **kwargs
        )
    if kwargs:
        raise DataError(
            f"--enable-thinking {enable_thinking}: the tokenizer has no chat template, so the prompt is the paper's "
            "ChatML and there is nothing to pass enable_thinking to; leave --enable-thinking at auto"
        )
    return CHATML.format(content=content)
