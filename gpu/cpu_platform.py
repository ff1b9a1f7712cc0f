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
"""A CPU platform for verl 0.9.1, so the harness's `--device cpu` mode drives verl's FSDP engine end to end.

verl 0.9.1 registers only accelerator platforms (nvidia, npu, amd) and, finding none, falls back to 'nvidia', whose
engine then calls into CUDA. It offers two switches for other devices, both used here: `PlatformRegistry.register`
with `VERL_PLATFORM` (select a platform) and `VERL_ENGINE_DEVICE` (pick the engine class registered for a device;
the FSDP engine is registered for cuda and npu only, and its code is device-generic). With them, verl's own FSDP2
engine runs on one CPU rank over gloo: the same worker, engine, loss and metrics code as on a GPU, at toy sizes.

Memory statistics do not exist on CPU: the device module reports 0 bytes for all of them, and the harness reports
CPU memory as not measured.
"""

import os
import types
from contextlib import contextmanager

import torch

PLATFORM = "cpu"


def _device_module():
    """torch.cpu, plus the device-module functions verl calls on an accelerator (memory figures are 0 here)."""
    module = types.ModuleType("abc_grpo_gpu_harness_cpu_device")
    module.__dict__.update({name: getattr(torch.cpu, name) for name in dir(torch.cpu) if not name.startswith("__")})
    zero = lambda *args, **kwargs: 0  # noqa: E731
    module.__dict__.update(
        memory_allocated=zero, max_memory_allocated=zero, memory_reserved=zero, max_memory_reserved=zero,
        mem_get_info=lambda *args: (0, 0), reset_peak_memory_stats=lambda *args: None, empty_cache=lambda: None,
        manual_seed=torch.manual_seed, manual_seed_all=torch.manual_seed, set_device=lambda *args: None,
        get_device_name=lambda *args: "CPU",
    )
    return module


def register() -> None:
    """Register the platform and select it (and the FSDP engine) for this process; call before verl picks one."""
    from verl.plugin.platform.platform_base import PlatformBase
    from verl.plugin.platform.platform_manager import PlatformRegistry

    cpu_device = _device_module()

    @PlatformRegistry.register(platform=PLATFORM)
    class PlatformCPU(PlatformBase):
        device_name = "cpu"
        vendor_name = "cpu"
        device_module = cpu_device

        def is_available(self):
            return True

        def is_platform_available(self, use_smi_check=False):
            return True

        # "cpu", not an index: verl moves modules with .to(device=current_device()), where 0 would mean cuda:0
        def current_device(self):
            return "cpu"

        def device_count(self):
            return 1

        def set_device(self, device_index):
            pass

        def synchronize(self, device_index=None):
            pass

        def manual_seed(self, seed):
            torch.manual_seed(seed)

        def manual_seed_all(self, seed):
            torch.manual_seed(seed)

        def set_allocator_settings(self, settings):
            pass

        def empty_cache(self):
            pass

        def get_device_capability(self, device_index=0):
            return None, None

        def communication_backend_name(self):
            return "gloo"

        def visible_devices_envvar(self):
            return "CUDA_VISIBLE_DEVICES"

        @contextmanager
        def nvtx_range(self, msg):
            yield

        def profiler_start(self):
            pass

        def profiler_stop(self):
            pass

        def ray_resource_name(self):
            return "CPU"

        def ray_noset_envvars(self):
            return []

        def is_ipc_supported(self):
            return False

        def cudart(self):
            return None

    os.environ["VERL_PLATFORM"] = PLATFORM
    os.environ["VERL_ENGINE_DEVICE"] = "cuda"
