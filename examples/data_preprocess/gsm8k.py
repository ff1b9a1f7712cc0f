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
"""GSM8K (openai/gsm8k, config "main") as verl parquet: <output-dir>/train.parquet and test.parquet.

The ground truth is the number after the reference answer's "####", thousands commas removed. Records with an
empty question or no "####" number are refused (or left out with --skip-bad-rows).

    python examples/data_preprocess/gsm8k.py --output-dir ~/data/gsm8k
    python examples/data_preprocess/gsm8k.py --input train=gsm8k_train.jsonl --input test=gsm8k_test.jsonl
"""

import numbers
from typing import Any

import preprocess_utils
from preprocess_utils import BadRowError, OutputSpec

from abc_grpo_verl.reward import extract_final_answer

REPO = "openai/gsm8k"
DEFAULT_OUTPUT_DIR = "~/data/gsm8k"


def convert(record: dict[str, Any]) -> tuple[str, str, str]:
    """(problem, ground truth, reference solution) of one GSM8K record (columns ``question``, ``answer``).

    The answer is the reference solution ending in "#### <number>"; a bare number is taken as the final answer.
    """
    question = preprocess_utils.text_field(record, "question")
    answer = record.get("answer")
    if isinstance(answer, numbers.Real) and not isinstance(answer, bool):
        truth = preprocess_utils.ground_truth(answer, "field 'answer'")
        return question, truth, truth
    solution = preprocess_utils.text_field(record, "answer")
    truth = extract_final_answer(solution, REPO)
    if truth is None:
        raise BadRowError(f"field 'answer' has no final '#### <number>' line: {solution[-80:]!r}")
    return question, truth, solution


SPECS = [
    OutputSpec(name=split, repo=REPO, config="main", split=split, columns=("question", "answer"), convert=convert)
    for split in ("train", "test")
]


def main(argv=None):
    parser = preprocess_utils.build_parser(__doc__, [spec.name for spec in SPECS], DEFAULT_OUTPUT_DIR)
    return preprocess_utils.run_or_exit(SPECS, parser.parse_args(argv))


if __name__ == "__main__":
    main()
