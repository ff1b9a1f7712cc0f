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
"""ABC-GRPO for verl.

Module map: `core` (the paper's tensor math, no verl), `config` (the four widths and their checks), `algos` (the
registered loss and estimator, on verl's `agg_loss` and `compute_grpo_outcome_advantage`), `plugin` (the
`verl.plugins` entry point), `validation` (the preflight around verl's `validate_config`), `train` (the launcher and
its dry run), `reward` (the math reward with killable grading workers), `answers` (the reward's reading of a final
answer), `problems` (the data scripts' shared row checks), `demo` (the CPU demo), `eval` and `evaluation` (offline
Pass@k/Avg@k with bootstrap intervals), `report` (a run's logs against the paper's).
Importing the package itself imports nothing heavy; `import verl` registers the algorithms.
"""

__version__ = "0.1.0"
