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

The ground truth is the number after the reference answer's "####", thousands commas removed.

    python examples/data_preprocess/gsm8k.py --output-dir ~/data/gsm8k
    python examples/data_preprocess/gsm8k.py --input train=gsm8k_train.jsonl --input test=gsm8k_test.jsonl
"""

from typing import Any

import preprocess_utils
from preprocess_utils import OutputSpec

from abc_grpo_verl.reward import extract_final_answer

REPO = "openai/gsm8k"
DEFAULT_OUTPUT_DIR = "~/data/gsm8k"


def convert(record: dict[str, Any], index: int) -> tuple[str, str, str]:
    """(problem, ground truth, reference solution) of one GSM8K record (columns ``question``, ``answer``)."""
    answer = record["answer"]
    ground_truth = extract_final_answer(answer, REPO)
    if ground_truth is None:
        raise ValueError(f"{REPO} record {index}: its answer has no final '#### <number>' line: {answer[-80:]!r}")
    return record["question"], ground_truth, answer


SPECS = [
    OutputSpec(name=split, repo=REPO, config="main", split=split, columns=("question", "answer"), convert=convert)
    for split in ("train", "test")
]


def main(argv=None):
    parser = preprocess_utils.build_parser(__doc__, [spec.name for spec in SPECS], DEFAULT_OUTPUT_DIR)
    return preprocess_utils.run_or_exit(SPECS, parser.parse_args(argv))


if __name__ == "__main__":
    main()
