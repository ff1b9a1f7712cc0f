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
"""Evaluation of checkpoints with the ABC-GRPO paper's protocol; the CLI is ``python -m abc_grpo_verl.eval``.

Module map: `data` (packaged and user benchmark files, the prompt's chat format; the files themselves in
`benchmarks/`; the row rules, JSONL reader and prompt text it shares with the training-data scripts are
`abc_grpo_verl.problems`),
`checkpoint` (what --model is; verl FSDP merge), `backends` (vLLM and Hugging Face generation, per-sample seeds),
`samples` (resumable per-sample JSONL, atomic writes), `metrics` (Avg@k, Pass@k, cons@k), `uncertainty` (bootstrap
intervals and paired differences), `report` (results.json, results.md, passk.png), `sweep` (--run: checkpoints
against training step). Nothing here imports vllm or verl at import time.
"""
