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
"""What the data scripts share: the prompt, the verl row schema, reading hub or local input, writing parquet.

Every script writes rows in the layout verl's ``RLHFDataset`` and reward manager read::

    data_source   str                        the source dataset's hub id (verl groups validation metrics by it)
    prompt        [{"role": "user", ...}]    one user turn: the paper's instruction, a space, the problem
    ability       "math"
    reward_model  {"style": "rule", "ground_truth": str}
    extra_info    {"split": str, "index": int, "question": str, "solution": str}

``extra_info`` has the same keys in every script on purpose: verl concatenates its ``data.train_files`` with
``datasets.concatenate_datasets``, which refuses files whose columns differ (GSM8K + MATH in one run).

Every record is checked before it becomes a row, by the rules the evaluation applies to its benchmarks
(``abc_grpo_verl.problems``): its problem must be non-empty text, its ground truth text or a number that the reward
accepts (``abc_grpo_verl.reward.ground_truth_problem``), never null, empty, a list or the text 'None'; a number that
is an integer is written as that integer (27.0 -> "27"). The prompt and the JSONL reader are the evaluation's too. A
bad record stops the script with the file, the line and the field; ``--skip-bad-rows`` leaves bad records out
instead and reports how many, and the first few, on stderr.
"""

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from abc_grpo_verl.problems import (
    BadValueError,
    describe_json_error,
    ground_truth_text,
    output_dir_problem,
    parse_jsonl,
    problem_text,
    prompt_messages,
    read_utf8,
)

ABILITY = "math"
INPUT_SUFFIXES = (".json", ".jsonl", ".parquet")
# What JSON counts as whitespace between values (str.isspace would also pass U+2028 and others).
JSON_WHITESPACE = " \t\n\r"
# How many bad rows an error or a --skip-bad-rows report lists one by one.
BAD_ROWS_LISTED = 5


class BadRowError(ValueError):
    """One source record cannot become a row; the message names the field and what is wrong with it."""


@dataclass(frozen=True)
class OutputSpec:
    """One parquet file a script writes: where its rows come from and how a source record becomes a verl row.

    Attributes:
        name: output file stem (``<output-dir>/<name>.parquet``) and the NAME of ``--input NAME=PATH``.
        repo: hub dataset id, also written as ``data_source``.
        config: hub config name (None when the dataset has only the default one).
        split: hub split to read.
        columns: the source columns `convert` reads; a file where one is in no record is the wrong file.
        convert: ``record -> (problem, ground_truth, solution)``; raises BadRowError naming the bad field.
    """

    name: str
    repo: str
    config: str | None
    split: str
    columns: tuple[str, ...]
    convert: Callable[[dict[str, Any]], tuple[str, str, str]]


@dataclass(frozen=True)
class SourceRecord:
    """One record of the input: where it was read (``file:LINE`` for JSON, ``file record N`` for parquet and the
    hub), its position among the input's records (written as ``extra_info.index``), and the record, or why the
    line could not be read as one."""

    where: str
    index: int
    record: Any
    unreadable: str | None = None


def text_field(record: dict[str, Any], field: str) -> str:
    """``record[field]`` as non-empty text (surrounding whitespace removed); BadRowError when it is missing, null,
    not text or blank."""
    if field not in record:
        raise BadRowError(f"field {field!r} is missing")
    try:
        return problem_text(record[field]).strip()
    except BadValueError as error:
        raise BadRowError(f"field {field!r} {error}") from None


def ground_truth(value: Any, source: str) -> str:
    """`value` as the ground-truth text the reward compares against (``abc_grpo_verl.problems.ground_truth_text``);
    BadRowError when it cannot be one (null, empty, not text or a number, the text 'None').

    `source` says where the value came from in the record, for the message: "field 'answer'", ...
    """
    try:
        return ground_truth_text(value)
    except BadValueError as error:
        raise BadRowError(f"{source} {error}") from None


def answer_field(record: dict[str, Any], field: str) -> str:
    """``record[field]`` as a ground truth: text or a number; BadRowError when it is missing or cannot be one."""
    if field not in record:
        raise BadRowError(f"field {field!r} is missing")
    return ground_truth(record[field], f"field {field!r}")


def make_row(spec: OutputSpec, source: SourceRecord) -> dict[str, Any]:
    """One verl-schema row from one source record; BadRowError when the record cannot be one."""
    if source.unreadable is not None:
        raise BadRowError(source.unreadable)
    if not isinstance(source.record, dict):
        raise BadRowError(f"the record is of type {type(source.record).__name__} ({source.record!r:.80}), not an "
                          "object with fields")
    problem, truth, solution = spec.convert(source.record)
    return {
        "data_source": spec.repo,
        "prompt": prompt_messages(problem),
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": truth},
        "extra_info": {"split": spec.split, "index": source.index, "question": problem, "solution": solution},
    }


def read_local_records(path: Path) -> list[SourceRecord]:
    """Records from a local .parquet, .jsonl or .json file (a JSON array, or one object per line), each with its
    place in the file. A line that is not valid JSON is a record that make_row refuses, so it can be skipped."""
    if not path.is_file():
        raise FileNotFoundError(f"--input {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as error:
            raise ValueError(f"{path}: not a readable parquet file ({error})") from error
        return [SourceRecord(f"{path} record {index}", index, record) for index, record in enumerate(table.to_pylist())]
    if suffix not in (".json", ".jsonl"):
        raise ValueError(f"--input {path}: unsupported file type {suffix!r}; valid: {', '.join(INPUT_SUFFIXES)}")
    text = read_utf8(path)
    if suffix == ".json" and text.lstrip().startswith("["):
        return json_array_records(text, path)
    # the stdlib, not pandas: pandas would turn numeric-looking answers ("72") into numbers
    return [SourceRecord(line.where, index, line.value, line.error)
            for index, line in enumerate(parse_jsonl(text, path))]


def json_array_records(text: str, path: Path) -> list[SourceRecord]:
    """The items of the JSON array `text`, each with the line it starts on. Anything json.loads would refuse (a
    missing, doubled or trailing comma, an unclosed array, text after it) is a ValueError naming the line."""
    decoder = json.JSONDecoder()

    def skip_whitespace(position: int) -> int:
        while position < len(text) and text[position] in JSON_WHITESPACE:
            position += 1
        return position

    def line_of(position: int) -> int:
        return text.count("\n", 0, position) + 1

    records = []
    position = skip_whitespace(text.index("[") + 1)
    try:
        while text[position] != "]" or records:  # "]" right after "[" is an empty array
            record, end = decoder.raw_decode(text, position)
            records.append(SourceRecord(f"{path}:{line_of(position)}", len(records), record))
            position = skip_whitespace(end)
            if text[position] == "]":
                break
            if text[position] != ",":
                raise ValueError(f"{path}:{line_of(position)}: not valid JSON (expected ',' or ']' after the item "
                                 f"of line {line_of(end)}, found {text[position]!r})")
            # An item must follow the comma: raw_decode refuses a second ',' or a ']' (a trailing comma).
            position = skip_whitespace(position + 1)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: {describe_json_error(error)}") from None
    except IndexError:
        raise ValueError(f"{path}: not valid JSON (the array is never closed)") from None
    if text[position + 1:].strip(JSON_WHITESPACE):
        raise ValueError(f"{path}:{line_of(position)}: not valid JSON (text after the array's closing bracket)")
    return records


def load_hub_records(spec: OutputSpec) -> list[SourceRecord]:
    """Records of `spec`'s hub split (needs network access, or a populated Hugging Face cache)."""
    import datasets  # only the hub path needs it

    try:
        records = datasets.load_dataset(spec.repo, spec.config, split=spec.split).to_list()
    except Exception as error:  # network, auth and cache errors all get the same advice
        raise ValueError(
            f"{spec.repo} ({spec.config or 'default'}, {spec.split}): cannot load from the Hugging Face hub "
            f"({type(error).__name__}: {error}); offline, pass a local copy with --input {spec.name}=PATH"
        ) from error
    origin = hub_origin(spec)
    return [SourceRecord(f"{origin} record {index}", index, record) for index, record in enumerate(records)]


def hub_origin(spec: OutputSpec) -> str:
    return f"{spec.repo} ({spec.config or 'default'}, {spec.split})"


def check_columns(records: Sequence[SourceRecord], spec: OutputSpec, origin: str) -> None:
    """Raise ValueError when the input holds no record, or when one of `spec.columns` is in no record at all (the
    wrong file, not a bad row)."""
    objects = [source.record for source in records if isinstance(source.record, dict)]
    if not objects:
        raise ValueError(f"{origin}: no records" if not records else f"{origin}: none of its records is an object")
    found = set().union(*objects)
    missing = [column for column in spec.columns if column not in found]
    if missing:
        raise ValueError(f"{origin}: no record has column(s) {missing}; {spec.repo} ({spec.split}) needs "
                         f"{list(spec.columns)}, found {sorted(found)}")


def convert_records(records: Sequence[SourceRecord], spec: OutputSpec, origin: str,
                    skip_bad_rows: bool = False) -> list[dict[str, Any]]:
    """verl rows for all `records`. A bad record is an error naming where it is and what is wrong, or, with
    `skip_bad_rows`, is left out and reported on stderr (how many, and the first few)."""
    check_columns(records, spec, origin)
    rows, bad = [], []
    for source in records:
        try:
            rows.append(make_row(spec, source))
        except BadRowError as error:
            bad.append(f"{source.where}: {error}")
    if bad:
        listed = "".join(f"\n  {line}" for line in bad[:BAD_ROWS_LISTED])
        more = f"\n  ... and {len(bad) - BAD_ROWS_LISTED} more" if len(bad) > BAD_ROWS_LISTED else ""
        if not skip_bad_rows:
            raise ValueError(f"{origin}: {len(bad)} of {len(records)} records cannot become rows (pass "
                             f"--skip-bad-rows to leave them out):{listed}{more}")
        print(f"{origin}: skipped {len(bad)} bad row(s) of {len(records)}:{listed}{more}", file=sys.stderr)
    if not rows:
        raise ValueError(f"{origin}: no usable rows")
    return rows


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    """Write `rows` as one parquet file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def build_parser(description: str, names: Sequence[str], default_output_dir: str) -> argparse.ArgumentParser:
    """The command line every script shares: ``--input NAME=PATH`` (repeatable), ``--skip-bad-rows`` and
    ``--output-dir``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help=f"read output NAME ({', '.join(names)}) from a local {'/'.join(INPUT_SUFFIXES)} file in the "
        "source dataset's column layout instead of the hub (offline use); repeatable; only the outputs given "
        "are written. A bare PATH is accepted when the script writes a single output.",
    )
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="leave out records whose problem or answer is missing, empty, null or not a scalar (or that are not "
        "valid JSON) and report how many, and the first few, on stderr; without it, any such record is an error",
    )
    parser.add_argument(
        "--output-dir",
        default=default_output_dir,
        help=f"folder for the <NAME>.parquet files (default: {default_output_dir})",
    )
    return parser


def parse_inputs(values: Sequence[str], specs: Sequence[OutputSpec]) -> dict[str, Path]:
    """Map ``--input`` values to output names; raise ValueError naming a bad value and the valid names."""
    by_name = {spec.name: spec for spec in specs}
    inputs: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            if len(specs) != 1:
                raise ValueError(f"--input {value!r}: give NAME=PATH, NAME one of {sorted(by_name)}")
            name, path = specs[0].name, value
        if name not in by_name:
            raise ValueError(f"--input {value!r}: unknown output {name!r}; valid: {sorted(by_name)}")
        if name in inputs:
            raise ValueError(f"--input: output {name!r} is given more than once")
        inputs[name] = Path(path).expanduser()
    return inputs


def run(specs: Sequence[OutputSpec], args: argparse.Namespace) -> dict[str, Path]:
    """Convert and write every output (from the hub, or only those given with ``--input``); returns the files."""
    inputs = parse_inputs(args.input, specs)
    output_dir = Path(args.output_dir).expanduser()
    if (problem := output_dir_problem(output_dir)) is not None:
        raise ValueError(problem)
    written = {}
    for spec in specs:
        if inputs and spec.name not in inputs:
            continue
        if spec.name in inputs:
            origin = str(inputs[spec.name])
            records = read_local_records(inputs[spec.name])
        else:
            origin = hub_origin(spec)
            records = load_hub_records(spec)
        rows = convert_records(records, spec, origin, args.skip_bad_rows)
        path = output_dir / f"{spec.name}.parquet"
        write_parquet(rows, path)
        print(f"{origin}: {len(rows)} rows -> {path}")
        written[spec.name] = path
    return written


def run_or_exit(specs: Sequence[OutputSpec], args: argparse.Namespace) -> dict[str, Path]:
    """`run`, but a bad input ends the process with status 1 and a one-line reason instead of a traceback."""
    try:
        return run(specs, args)
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
