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
"""Benchmarks (packaged, or a user's files) and the paper's prompt.

A benchmark is a JSONL file: one JSON object per line with ``id`` (string or integer, unique), ``problem``
(non-empty string) and ``answer`` (text or a finite number that the reward accepts as a ground truth: not empty,
not "None", "null" or "nan"). The rules, the reader and the prompt are the training-data scripts' own
(``abc_grpo_verl.problems``). The package ships AIME 2024, AIME 2025,
AMC 2023, MATH-500 and GSM8K test in this format (``benchmarks/``, see its README for source and license);
``--data-dir`` adds or overrides files by name (``<data-dir>/<name>.jsonl``).
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

# DataError is the shared one, so that errors raised by the shared reader and rules reach the CLI's handler.
from abc_grpo_verl.problems import (
    BadValueError,
    DataError,
    ground_truth_text,
    problem_text,
    prompt_content,
    prompt_messages,
    read_jsonl,
)

# The authors' hand-written ChatML, used when the tokenizer has no chat template (or with --prompt-format chatml).
CHATML = "<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"
PROMPT_FORMATS = ("auto", "chatml")
# --enable-thinking: "auto" passes nothing (the template's own default; Qwen3: thinking on, as in the paper's runs),
# "true"/"false" pass enable_thinking= to apply_chat_template, as verl's data.apply_chat_template_kwargs does.
THINKING_MODES = ("auto", "true", "false")
# The benchmarks shipped with the package, in the normalised format (examples/eval_data/package_benchmarks.py).
PACKAGED_DIR = Path(__file__).with_name("benchmarks")
REQUIRED_FIELDS = ("id", "problem", "answer")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Problem:
    id: str
    problem: str
    answer: str


@dataclass(frozen=True)
class Benchmark:
    """One benchmark as loaded: where it came from (recorded in results.json) and its problems in file order."""

    name: str
    path: Path
    packaged: bool
    sha256: str
    problems: tuple[Problem, ...]


def packaged_benchmarks() -> list[str]:
    return sorted(path.stem for path in PACKAGED_DIR.glob("*.jsonl"))


def check_record(problem_id: object, problem: object, answer: object, where: str) -> Problem:
    """One benchmark row, validated and normalised; a DataError that names `where` and the field otherwise.

    Used by the loader and by both scripts that write benchmark files. The problem and the answer follow the rules
    the training-data scripts follow (``abc_grpo_verl.problems``): the answer is what the reward accepts as a ground
    truth, so no null, list, empty value or text "None" can become one (``\\boxed{None}`` would match "None").
    """
    for field, value in zip(REQUIRED_FIELDS, (problem_id, problem, answer), strict=True):
        if value is None:
            raise DataError(f"{where}: field {field!r} is missing or null (every row needs {list(REQUIRED_FIELDS)})")
    if isinstance(problem_id, bool) or not isinstance(problem_id, (str, int)) or not str(problem_id).strip():
        raise DataError(f"{where}: field 'id' must be a non-empty string or an integer, got {problem_id!r}")
    try:
        text = problem_text(problem)
    except BadValueError as e:
        raise DataError(f"{where}: field 'problem' {e}") from None
    try:
        truth = ground_truth_text(answer)
    except BadValueError as e:
        raise DataError(f"{where}: field 'answer' {e}") from None
    return Problem(id=str(problem_id).strip(), problem=text, answer=truth)


def parse_benchmark_names(spec: str) -> list[str]:
    """``aime24,amc23`` -> ``["aime24", "amc23"]``; names are file stems, so no paths or duplicates."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise DataError(f"--benchmarks is empty; give a comma-separated list such as {','.join(packaged_benchmarks())}")
    for name in names:
        if not _NAME.fullmatch(name):
            raise DataError(f"--benchmarks: {name!r} is not a valid name (letters, digits, '_', '-', '.')")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"--benchmarks lists {duplicates} more than once")
    return names


def locate_benchmark(name: str, data_dir: Path | None = None) -> tuple[Path, bool]:
    """(file, packaged?) for benchmark `name`: ``<data-dir>/<name>.jsonl`` when it exists, else the packaged copy."""
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DataError(f"--data-dir {data_dir}: no such directory")
    if data_dir is not None and (Path(data_dir) / f"{name}.jsonl").is_file():
        return Path(data_dir) / f"{name}.jsonl", False
    packaged = PACKAGED_DIR / f"{name}.jsonl"
    if packaged.is_file():
        return packaged, True
    looked = f"{Path(data_dir) / f'{name}.jsonl'} not found and there is" if data_dir is not None else "there is"
    raise DataError(
        f"benchmark {name!r}: {looked} no packaged copy (packaged: {', '.join(packaged_benchmarks())}); pass "
        f"--data-dir with a file {name}.jsonl holding one JSON object per line with the fields {list(REQUIRED_FIELDS)}"
    )


def read_benchmark_file(path: Path) -> list[Problem]:
    """The problems of a benchmark file, in file order; a DataError naming the file, line and field on any bad row."""
    problems, seen = [], {}
    for line in read_jsonl(path):
        if line.error is not None:
            raise DataError(f"{line.where}: {line.error}")
        row = line.value
        if not isinstance(row, dict):
            raise DataError(f"{line.where}: expected a JSON object, got {type(row).__name__}")
        problem = check_record(row.get("id"), row.get("problem"), row.get("answer"), line.where)
        if problem.id in seen:
            raise DataError(f"{line.where}: duplicate id {problem.id!r} (first on line {seen[problem.id]})")
        seen[problem.id] = line.number
        problems.append(problem)
    if not problems:
        raise DataError(f"{path}: holds no problems")
    return problems


def load_benchmark(name: str, data_dir: Path | None = None) -> Benchmark:
    """Benchmark `name` from `data_dir` when it has the file, else from the package."""
    path, packaged = locate_benchmark(name, data_dir)
    return Benchmark(name=name, path=path, packaged=packaged, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                     problems=tuple(read_benchmark_file(path)))


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
    """The prompt text for one problem: the user turn of the training data (``abc_grpo_verl.problems.prompt_messages``),
    in the chat format `prompt_format` asks for.

    ``auto`` applies the tokenizer's chat template when it has one, so a model is asked in the format it was trained
    on (verl's rollout applies the same template); for Qwen3 tokenizers this gives exactly the paper's ChatML string,
    as their template adds no default system prompt and leaves thinking on unless ``enable_thinking=False`` is passed.
    ``chatml`` always uses the paper's hand-written ChatML (the authors' eval did not apply the template).

    `enable_thinking` (``auto``, ``true``, ``false``) is passed to the template as verl's
    ``data.apply_chat_template_kwargs.enable_thinking`` is during training; ``auto`` passes nothing. A non-``auto``
    value needs the chat template: with ``chatml``, or a tokenizer without a template, it is a DataError.
    """
    kwargs = template_kwargs(prompt_format, enable_thinking)
    if uses_chat_template(tokenizer, prompt_format):
        return tokenizer.apply_chat_template(prompt_messages(question), tokenize=False, add_generation_prompt=True,
                                             **kwargs)
    if kwargs:
        raise DataError(
            f"--enable-thinking {enable_thinking}: the tokenizer has no chat template, so the prompt is the paper's "
            "ChatML and there is nothing to pass enable_thinking to; leave --enable-thinking at auto"
        )
    return CHATML.format(content=prompt_content(question))
