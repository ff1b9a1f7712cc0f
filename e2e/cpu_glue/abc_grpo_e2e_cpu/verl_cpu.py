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
"""verl's side (a ``verl.plugins`` entry point, so it runs in every process that imports verl: driver, TaskRunner,
Ray workers, the vLLM server actor).

With ``VERL_PLATFORM=cpu`` it registers a ``cpu`` platform and mends the process-group backend; with any other value,
or none, it does nothing.

- verl 0.9.1 registers only accelerator platforms (verl/plugin/platform/platform_manager.py; nvidia, npu, amd):
  this adds ``cpu`` through verl's own ``PlatformRegistry.register``. Its Ray resource is ``GPU``, so verl's resource
  pools schedule as on a GPU node once Ray is started with logical GPUs (``ray_kwargs.ray_init.num_gpus``); its
  device is the string ``"cpu"``, never an index (verl/utils/fsdp_utils.py:507 reads an int as "accelerator N");
  its backend is gloo; memory figures are 0; no CUDA IPC, so weights reach vLLM through shared memory.
- verl 0.9.1 verl/utils/distributed.py:89 builds the backend ``cpu:gloo,{device}:{backend}``, which on this platform
  is ``cpu:gloo,cpu:gloo`` and torch refuses a device type twice: the workers' default becomes plain ``gloo``.
"""

import functools
import os
import types
from contextlib import contextmanager

import torch

PLATFORM = "cpu"


def _device_module() -> types.ModuleType:
    """torch.cpu plus the accelerator-module calls verl makes (memory figures are 0: CPU memory is not tracked)."""
    module = types.ModuleType("abc_grpo_e2e_cpu_device")
    module.__dict__.update({name: getattr(torch.cpu, name) for name in dir(torch.cpu) if not name.startswith("__")})
    module.__dict__.update(
        memory_allocated=lambda *args, **kwargs: 0, max_memory_allocated=lambda *args, **kwargs: 0,
        memory_reserved=lambda *args, **kwargs: 0, max_memory_reserved=lambda *args, **kwargs: 0,
        mem_get_info=lambda *args: (0, 0), reset_peak_memory_stats=lambda *args: None, empty_cache=lambda: None,
        manual_seed=torch.manual_seed, manual_seed_all=torch.manual_seed, set_device=lambda *args: None,
        get_device_name=lambda *args: "CPU", is_available=lambda: True, device_count=lambda: 1,
        # verl 0.9.1 verl/utils/checkpoint/checkpoint_manager.py:219 restores the device's random state under the
        # key of the device's name, which on this platform is the "cpu" key holding torch's own state
        get_rng_state=torch.get_rng_state, set_rng_state=torch.set_rng_state,
    )
    return module


def _register_platform() -> None:
    from verl.plugin.platform.platform_base import PlatformBase
    from verl.plugin.platform.platform_manager import PlatformRegistry

    cpu_device_module = _device_module()

    @PlatformRegistry.register(platform=PLATFORM)
    class PlatformCPU(PlatformBase):
        device_name = "cpu"
        vendor_name = "cpu"
        device_module = cpu_device_module

        def is_available(self):
            return True

        # never picked by verl's auto-detection (a GPU job with this package installed keeps its platform)
        def is_platform_available(self, use_smi_check=False):
            return os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM

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
            return "GPU"

        def ray_noset_envvars(self):
            return []

        def is_ipc_supported(self):
            return False

        def cudart(self):
            return None


def _plain_gloo_backend() -> None:
    import verl.utils.distributed as distributed

    initialize = distributed.initialize_global_process_group_ray

    @functools.wraps(initialize)
    def initialize_with_gloo(timeout_second=None, backend=None):
        return initialize(timeout_second=timeout_second, backend=backend or "gloo")

    distributed.initialize_global_process_group_ray = initialize_with_gloo


if os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM:
    _register_platform()
    _plain_gloo_backend()
