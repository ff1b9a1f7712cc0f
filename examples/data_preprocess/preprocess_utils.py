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

# The paper's instruction (arXiv 2601.03895; the authors' configs pass it as `system_prompt`).
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
ABILITY = "math"
INPUT_SUFFIXES = (".json", ".jsonl", ".parquet")


@dataclass(frozen=True)
class OutputSpec:
    """One parquet file a script writes: where its rows come from and how a source record becomes a verl row.

    Attributes:
        name: output file stem (``<output-dir>/<name>.parquet``) and the NAME of ``--input NAME=PATH``.
        repo: hub dataset id, also written as ``data_source``.
        config: hub config name (None when the dataset has only the default one).
        split: hub split to read.
        columns: the source columns `convert` reads; a missing one is an error that names it.
        convert: ``(record, index) -> (problem, ground_truth, solution)``; raises ValueError on a bad record.
    """

    name: str
    repo: str
    config: str | None
    split: str
    columns: tuple[str, ...]
    convert: Callable[[dict[str, Any], int], tuple[str, str, str]]


def make_prompt(problem: str) -> list[dict[str, str]]:
    """The chat prompt for one problem: a single user turn, instruction first (as the paper's evaluation)."""
    return [{"role": "user", "content": f"{INSTRUCTION} {problem.strip()}"}]


def make_row(spec: OutputSpec, record: dict[str, Any], index: int) -> dict[str, Any]:
    """One verl-schema row from one source record."""
    problem, ground_truth, solution = spec.convert(record, index)
    return {
        "data_source": spec.repo,
        "prompt": make_prompt(problem),
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": ground_truth},
        "extra_info": {"split": spec.split, "index": index, "question": problem, "solution": solution},
    }


def read_local_records(path: Path) -> list[dict[str, Any]]:
    """Records from a local .parquet, .jsonl or .json file (a JSON array, or one object per line)."""
    if not path.is_file():
        raise FileNotFoundError(f"--input {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if suffix not in (".json", ".jsonl"):
        raise ValueError(f"--input {path}: unsupported file type {suffix!r}; valid: {', '.join(INPUT_SUFFIXES)}")
    text = path.read_text(encoding="utf-8")
    if suffix == ".json" and text.lstrip().startswith("["):
        records = json.loads(text)
    else:
        # the stdlib, not pandas: pandas would turn numeric-looking answers ("72") into numbers
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not all(isinstance(record, dict) for record in records):
        raise ValueError(f"--input {path}: expected one JSON object per record")
    return records


def load_hub_records(spec: OutputSpec) -> list[dict[str, Any]]:
    """Records of `spec`'s hub split (needs network access, or a populated Hugging Face cache)."""
    import datasets  # only the hub path needs it

    try:
        return datasets.load_dataset(spec.repo, spec.config, split=spec.split).to_list()
    except Exception as error:  # noqa: BLE001 - network, auth and cache errors all get the same advice
        raise ValueError(
            f"{spec.repo} ({spec.config or 'default'}, {spec.split}): cannot load from the Hugging Face hub "
            f"({type(error).__name__}: {error}); offline, pass a local copy with --input {spec.name}=PATH"
        ) from error


def check_columns(records: Sequence[dict[str, Any]], spec: OutputSpec, origin: str) -> None:
    """Raise ValueError naming the first record that lacks one of `spec.columns`."""
    if not records:
        raise ValueError(f"{origin}: no records")
    for index, record in enumerate(records):
        missing = [column for column in spec.columns if column not in record]
        if missing:
            raise ValueError(
                f"{origin}: record {index} lacks column(s) {missing}; {spec.repo} ({spec.split}) needs "
                f"{list(spec.columns)}, found {sorted(record)}"
            )


def convert_records(records: Sequence[dict[str, Any]], spec: OutputSpec, origin: str) -> list[dict[str, Any]]:
    """verl rows for all `records`, after checking their columns."""
    check_columns(records, spec, origin)
    return [make_row(spec, record, index) for index, record in enumerate(records)]


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    """Write `rows` as one parquet file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def build_parser(description: str, names: Sequence[str], default_output_dir: str) -> argparse.ArgumentParser:
    """The command line every script shares: ``--input NAME=PATH`` (repeatable) and ``--output-dir``."""
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
    written = {}
    for spec in specs:
        if inputs and spec.name not in inputs:
            continue
        if spec.name in inputs:
            origin = str(inputs[spec.name])
            records = read_local_records(inputs[spec.name])
        else:
            origin = f"{spec.repo} ({spec.config or 'default'}, {spec.split})"
            records = load_hub_records(spec)
        rows = convert_records(records, spec, origin)
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
