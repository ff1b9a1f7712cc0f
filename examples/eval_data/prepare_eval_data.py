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
"""Write evaluation benchmarks as local JSONL files (``id``, ``problem``, ``answer``) from the Hugging Face Hub.

    python examples/eval_data/prepare_eval_data.py --output-dir data/eval [--benchmarks aime24,aime25,amc23,math500]

Not needed for the default evaluation: the package ships these benchmarks (from the authors' copies, see
``abc_grpo_verl/evaluation/benchmarks/README.md``). This script writes the Hub's copies instead, for a
``python -m abc_grpo_verl.eval --data-dir data/eval ...`` that should read those. Needs the ``datasets`` package
and network access once. The sources are the ones the paper cites (plus MATH-500):

    aime24   HuggingFaceH4/aime_2024  split train   30 problems
    aime25   opencompass/AIME2025     configs AIME2025-I + AIME2025-II, split test   15 + 15
    amc23    math-ai/amc23            split test    40
    math500  HuggingFaceH4/MATH-500   split test    500

Column names differ between these datasets (``problem`` or ``question``; ``id``, ``unique_id`` or none), so each
row's fields are looked up by the candidates below; a dataset without any of them fails with the columns it has,
and a row whose problem or answer is missing, empty, not a scalar or the text of a null ("None") fails with the
dataset, row and field.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from abc_grpo_verl.evaluation.data import DataError, check_record, parse_benchmark_names
from abc_grpo_verl.problems import output_dir_problem

PROBLEM_COLUMNS = ("problem", "question")
ANSWER_COLUMNS = ("answer",)
ID_COLUMNS = ("id", "unique_id")


@dataclass(frozen=True)
class Source:
    repo: str
    configs: tuple[str | None, ...]
    split: str
    expected: int  # problem count, checked so a changed upstream dataset does not go unnoticed


SOURCES = {
    "aime24": Source("HuggingFaceH4/aime_2024", (None,), "train", 30),
    "aime25": Source("opencompass/AIME2025", ("AIME2025-I", "AIME2025-II"), "test", 30),
    "amc23": Source("math-ai/amc23", (None,), "test", 40),
    "math500": Source("HuggingFaceH4/MATH-500", (None,), "test", 500),
}


def _column(columns, candidates, what: str, where: str) -> str | None:
    found = next((c for c in candidates if c in columns), None)
    if found is None and what != "id":
        raise ValueError(f"{where}: no {what} column (looked for {list(candidates)}; it has {sorted(columns)})")
    return found


def normalize_rows(rows: list[dict], where: str, id_prefix: str) -> list[dict]:
    """Rows of one dataset split -> ``{"id", "problem", "answer"}`` records.

    Rows without an id column get ``<id_prefix>-<1-based row number>``; every row goes through the loader's own
    ``check_record`` (so 27.0 becomes "27", and a null, empty, list-valued or "None" field is a DataError naming the
    row).
    """
    if not rows:
        raise ValueError(f"{where}: no rows")
    columns = set(rows[0])
    problem_col = _column(columns, PROBLEM_COLUMNS, "problem", where)
    answer_col = _column(columns, ANSWER_COLUMNS, "answer", where)
    id_col = _column(columns, ID_COLUMNS, "id", where)
    records = []
    for i, row in enumerate(rows, start=1):
        problem = check_record(row[id_col] if id_col else f"{id_prefix}-{i}", row.get(problem_col),
                               row.get(answer_col), f"{where}, row {i}")
        records.append({"id": problem.id, "problem": problem.problem, "answer": problem.answer})
    return records


def fetch(name: str) -> list[dict]:
    from datasets import load_dataset

    source = SOURCES[name]
    records = []
    for config in source.configs:
        where = f"{source.repo}" + (f" ({config})" if config else "") + f", split {source.split}"
        rows = list(load_dataset(source.repo, config, split=source.split))
        records += normalize_rows(rows, where, id_prefix=config or name)
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{source.repo}: ids are not unique")
    if len(records) != source.expected:
        print(f"warning: {name}: {len(records)} problems, expected {source.expected} (has the dataset changed?)")
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--benchmarks", default=",".join(SOURCES))
    args = parser.parse_args(argv)
    if (problem := output_dir_problem(args.output_dir)) is not None:
        parser.error(problem)
    try:
        names = parse_benchmark_names(args.benchmarks)
    except DataError as e:
        parser.error(str(e))
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        parser.error(f"--benchmarks: no hub source for {unknown}; known: {list(SOURCES)}")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        try:
            records = fetch(name)
        except ValueError as e:  # a DataError naming the row, or a split without the columns or rows it needs
            print(f"error: {e}", file=sys.stderr)
            return 2
        path = args.output_dir / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        print(f"{name}: {len(records)} problems -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
