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
"""DAPO-Math-17k (open-r1/DAPO-Math-17k-Processed, the ABC-GRPO paper's training set) as verl parquet:
<output-dir>/train.parquet.

The problem is the `prompt` column and the ground truth the `solution` column (the final answer only). Subset
"all" (17,398 problems) is the default: with it, 5 epochs at the paper's batch sizes give exactly the optimizer
step counts of the authors' training logs (1,340 for Qwen3-4B-Base, 660 for Qwen3-1.7B-Base).

    python examples/data_preprocess/dapo_math.py --output-dir ~/data/dapo_math
    python examples/data_preprocess/dapo_math.py --input dapo_math_17k_all.parquet
"""

import re
from typing import Any

import preprocess_utils
from preprocess_utils import BadRowError, OutputSpec

REPO = "open-r1/DAPO-Math-17k-Processed"
SUBSETS = ("all", "en", "cn")
DEFAULT_OUTPUT_DIR = "~/data/dapo_math"
# The original DAPO-Math-17k wraps each problem in an "Answer: $Answer" instruction, which contradicts the
# paper's \boxed{} instruction; if a copy of the data still carries that wrapper, it is removed.
DAPO_WRAPPER_HEAD = re.compile(
    r"^\s*Solve the following math problem step by step\. The last line of your response should be of the form "
    r"Answer: \$Answer \(without quotes\) where \$Answer is the answer to the problem\.\s*"
)
DAPO_WRAPPER_TAIL = re.compile(r'\s*Remember to put your answer on its own line after "Answer:"\.?\s*$')


def strip_dapo_wrapper(prompt: str) -> str:
    """The bare problem of a DAPO prompt, without the original "Answer:" instruction around it (if present)."""
    return DAPO_WRAPPER_TAIL.sub("", DAPO_WRAPPER_HEAD.sub("", prompt)).strip()


def convert(record: dict[str, Any]) -> tuple[str, str, str]:
    """(problem, ground truth, solution) of one record (columns ``prompt``, ``solution``, ...)."""
    problem = strip_dapo_wrapper(preprocess_utils.text_field(record, "prompt"))
    if not problem:
        raise BadRowError("field 'prompt' holds only the 'Answer:' instruction, no problem")
    answer = preprocess_utils.answer_field(record, "solution")
    return problem, answer, answer


def make_specs(subset: str) -> list[OutputSpec]:
    return [OutputSpec(name="train", repo=REPO, config=subset, split="train", columns=("prompt", "solution"),
                       convert=convert)]


def main(argv=None):
    parser = preprocess_utils.build_parser(__doc__, ["train"], DEFAULT_OUTPUT_DIR)
    parser.add_argument("--subset", choices=SUBSETS, default="all",
                        help="hub config: all (default, as the paper's runs), en or cn (by problem language)")
    args = parser.parse_args(argv)
    return preprocess_utils.run_or_exit(make_specs(args.subset), args)


if __name__ == "__main__":
    main()
