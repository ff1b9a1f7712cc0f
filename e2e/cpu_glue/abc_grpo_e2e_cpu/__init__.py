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
"""Runtime glue for verl's trainer with vLLM's CPU build on a machine without a GPU (the end-to-end run only).

Everything here acts only when ``VERL_PLATFORM=cpu`` (verl) or vLLM's platform is the CPU (vLLM), so the package is
inert elsewhere; it is still installed only into the end-to-end environment. Each workaround names the verl or vLLM
version and line it works around, so it can go when they fix it (see e2e/README.md).
"""
