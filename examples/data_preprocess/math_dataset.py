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
"""MATH as verl parquet: <output-dir>/train.parquet and test.parquet (DigitalLearningGmbH/MATH-lighteval, the
copy of the MATH benchmark whose name verl's default scorer also knows) and math500.parquet (HuggingFaceH4/MATH-500,
the 500-problem test subset, for validation).

MATH-lighteval's ground truth is the last \\boxed{} of the reference solution; MATH-500's is its `answer` column.

    python examples/data_preprocess/math_dataset.py --output-dir ~/data/math
    python examples/data_preprocess/math_dataset.py --input train=math_train.parquet --input math500=math500.jsonl
"""

from typing import Any

import preprocess_utils
from preprocess_utils import BadRowError, OutputSpec

from abc_grpo_verl.reward import extract_final_answer

LIGHTEVAL_REPO = "DigitalLearningGmbH/MATH-lighteval"
MATH500_REPO = "HuggingFaceH4/MATH-500"
DEFAULT_OUTPUT_DIR = "~/data/math"


def convert_lighteval(record: dict[str, Any]) -> tuple[str, str, str]:
    """(problem, ground truth, solution) of a MATH-lighteval record (``problem``, ``solution``, ``level``, ``type``)."""
    problem = preprocess_utils.text_field(record, "problem")
    solution = preprocess_utils.text_field(record, "solution")
    boxed = extract_final_answer(solution)
    if boxed is None:
        raise BadRowError(f"field 'solution' has no complete \\boxed{{}} answer: {solution[-80:]!r}")
    return problem, preprocess_utils.ground_truth(boxed, "the \\boxed{} answer of field 'solution'"), solution


def convert_math500(record: dict[str, Any]) -> tuple[str, str, str]:
    """(problem, ground truth, solution) of a MATH-500 record (``problem``, ``solution``, ``answer``, ...)."""
    problem = preprocess_utils.text_field(record, "problem")
    answer = preprocess_utils.answer_field(record, "answer")
    return problem, answer, preprocess_utils.text_field(record, "solution")


SPECS = [
    *(
        OutputSpec(name=split, repo=LIGHTEVAL_REPO, config="default", split=split, columns=("problem", "solution"),
                   convert=convert_lighteval)
        for split in ("train", "test")
    ),
    OutputSpec(name="math500", repo=MATH500_REPO, config=None, split="test",
               columns=("problem", "solution", "answer"), convert=convert_math500),
]


def main(argv=None):
    parser = preprocess_utils.build_parser(__doc__, [spec.name for spec in SPECS], DEFAULT_OUTPUT_DIR)
    return preprocess_utils.run_or_exit(SPECS, parser.parse_args(argv))


if __name__ == "__main__":
    main()
