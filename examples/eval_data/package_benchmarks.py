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
"""Write the packaged evaluation benchmarks from the ABC-GRPO authors' copies.

    python examples/eval_data/package_benchmarks.py --source ../shared/benchmarks \
        --output-dir abc_grpo_verl/evaluation/benchmarks

`--source` holds the authors' files ``eval_math/data/<name>/test.jsonl`` of github.com/chi2liu/ABC-GRPO at commit
c40bbafd9ef1a0983b562527f6e813ca13188f1f, saved as ``<name>.jsonl``. Each is rewritten as ``{"id", "problem",
"answer"}`` lines, the format ``python -m abc_grpo_verl.eval`` reads, with the answer as the string the reward
grades; ``sources.json`` records every source file's SHA-256 next to the result's, and the normalisation applied.
The output is deterministic: the tests rebuild it from ``../shared/benchmarks`` and compare bytes.
"""

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from abc_grpo_verl.evaluation.data import DataError, check_record, read_benchmark_file
from abc_grpo_verl.problems import output_dir_problem, read_jsonl
from abc_grpo_verl.reward import extract_final_answer

REPOSITORY = "https://github.com/chi2liu/ABC-GRPO"
COMMIT = "c40bbafd9ef1a0983b562527f6e813ca13188f1f"
MANIFEST = "sources.json"


def _gsm8k_answer(text: object) -> object:
    # GSM8K's answer is the worked solution ending in "#### <number>": the reward's own reading of it (the number,
    # thousands commas removed), so the ground truth is what the reward would extract from the reference solution.
    if not isinstance(text, str):
        return text  # check_record then names the field
    return extract_final_answer(text, "gsm8k")


def _aime_answer(value: object) -> object:
    # AIME answers are integers 0..999 that the answer sheet writes with three digits ("025"); the value is 25.
    return str(int(value)) if isinstance(value, str) and value.strip().isdigit() else value


@dataclass(frozen=True)
class Conversion:
    source: str  # file name under --source
    upstream: str  # the benchmark the problems come from
    id_field: str
    problem_field: str
    answer: Callable[[dict], object]
    normalisation: str  # what was changed, recorded in sources.json and the README


CONVERSIONS = {
    "aime24": Conversion("aime24.jsonl", "AIME 2024 I and II", "id", "problem", lambda r: _aime_answer(r.get("answer")),
                         "answer: leading zeros dropped ('025' -> '25')"),
    "aime25": Conversion("aime25.jsonl", "AIME 2025 I and II", "id", "problem", lambda r: r.get("answer"),
                         "answer: integer written as a string"),
    "amc23": Conversion("amc23.jsonl", "AMC 2023", "id", "problem", lambda r: r.get("answer"),
                        "answer: integral float written as an integer ('27.0' -> '27')"),
    "math500": Conversion("math500.jsonl", "MATH-500 (Lightman et al. 2023)", "unique_id", "problem",
                          lambda r: r.get("answer"), "none (answers kept verbatim, LaTeX included)"),
    "gsm8k": Conversion("gsm8k.jsonl", "GSM8K test (Cobbe et al. 2021)", "idx", "question",
                        lambda r: _gsm8k_answer(r.get("answer")),
                        "problem: the 'question' field; answer: the number after '####', thousands commas removed"),
}


def convert(name: str, source_dir: Path) -> tuple[bytes, dict]:
    """The normalised file of benchmark `name` and its manifest entry."""
    conversion = CONVERSIONS[name]
    path = source_dir / conversion.source
    raw = path.read_bytes()
    lines = []
    for line in read_jsonl(path):
        where = f"{line.where} (fields {conversion.id_field!r}, {conversion.problem_field!r}, 'answer')"
        if not isinstance(line.value, dict):
            raise DataError(f"{where}: {line.error or 'not a JSON object'}")
        row = line.value
        problem = check_record(row.get(conversion.id_field), row.get(conversion.problem_field), conversion.answer(row),
                               where)
        record = {"id": problem.id, "problem": problem.problem, "answer": problem.answer}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    output = "".join(lines).encode("utf-8")
    entry = {
        "upstream": conversion.upstream,
        "source_file": f"eval_math/data/{Path(conversion.source).stem}/test.jsonl",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "problems": len(lines),
        "sha256": hashlib.sha256(output).hexdigest(),
        "normalisation": conversion.normalisation,
    }
    return output, entry


def build(source_dir: Path, output_dir: Path) -> dict:
    """Write every benchmark and sources.json into `output_dir`; returns the manifest."""
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"repository": REPOSITORY, "commit": COMMIT, "license": "Apache-2.0", "benchmarks": {}}
    for name in CONVERSIONS:
        output, entry = convert(name, source_dir)
        target = output_dir / f"{name}.jsonl"
        target.write_bytes(output)
        read_benchmark_file(target)  # what the evaluation will read: unique ids, every field valid
        manifest["benchmarks"][name] = entry
    (output_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="directory with the authors' <name>.jsonl files")
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    if (problem := output_dir_problem(args.output_dir)) is not None:
        parser.error(problem)
    missing = [c.source for c in CONVERSIONS.values() if not (args.source / c.source).is_file()]
    if missing:
        parser.error(f"--source {args.source}: missing {', '.join(missing)}")
    try:
        manifest = build(args.source, args.output_dir)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, entry in manifest["benchmarks"].items():
        print(f"{name}: {entry['problems']} problems -> {args.output_dir / (name + '.jsonl')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
