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
"""An import-time stand-in for Ray, used ONLY by the GPU harness (gpu/check.py) on a machine without Ray.

NOT Ray, and never to be installed as `ray`: it is never packaged, never copied into site-packages, and only reaches
`sys.path` when gpu/check.py puts `gpu/ray_stub` on its children's PYTHONPATH (`--ray stub`, or `--ray auto` where
`import ray` fails). An offline GPU image without Ray would need the Ray wheel copied along, 79 MB against the 7 MiB
of all the other wheels.

verl 0.9.1 imports Ray when its modules are imported (`ray.remote` on a few classes, `ray.ObjectRef` and
`ray.actor.ActorHandle` in annotations, Ray's placement-group and scheduling classes in `verl.single_controller.ray`),
but the code paths the harness drives never start Ray: the registered losses, verl's FSDP engine in-process, the V1
trainer's actor-update and old-log-prob steps, the demo and the evaluation. So this module provides the names those
imports touch (found by importing them with a recording stub) and Ray's common entry points (`init`, `get`, `put`,
...), and makes every call that would need a real Ray fail at once with a message saying so; any other name is an
AttributeError, as for a module that lacks it:

- `remote(cls_or_fn)` returns its argument unchanged (verl only decorates classes with it at import time);
- `is_initialized()` returns False (verl's `set_numa_affinity` asks; the truthful answer: Ray is not running);
- every other function raises `RayStubError` naming the call.
"""

import sys
import types

__version__ = "0.0.0+abc-grpo-gpu-harness-stub"


class RayStubError(RuntimeError):
    """A Ray feature was used at run time under the GPU harness's import stub."""


def _unavailable(qualified_name):
    def call(*args, **kwargs):
        raise RayStubError(
            f"{qualified_name}() was called, but `ray` here is the GPU harness's import stub (gpu/ray_stub): the "
            "harness drives verl in-process and must never reach Ray at run time"
        )

    call.__name__ = call.__qualname__ = qualified_name.rsplit(".", 1)[-1]
    return call


def _placeholder_class(qualified_name):
    """A class for annotations and isinstance checks; nothing is ever an instance of it."""
    module, name = qualified_name.rsplit(".", 1)

    def construct(self, *args, **kwargs):
        _unavailable(qualified_name)()

    return type(name, (), {"__module__": module, "__init__": construct})


def remote(*args, **kwargs):
    """`@ray.remote` and `@ray.remote(num_gpus=...)`: the decorated object, unchanged."""
    if len(args) == 1 and not kwargs and callable(args[0]):
        return args[0]
    return lambda obj: obj


def is_initialized():
    return False


ObjectRef = _placeholder_class("ray.ObjectRef")
init = _unavailable("ray.init")
get = _unavailable("ray.get")
put = _unavailable("ray.put")
wait = _unavailable("ray.wait")
kill = _unavailable("ray.kill")
shutdown = _unavailable("ray.shutdown")
get_actor = _unavailable("ray.get_actor")
get_runtime_context = _unavailable("ray.get_runtime_context")


def _submodule(name, **attributes):
    module = types.ModuleType(name, f"GPU harness stub of {name} (see `ray` in gpu/ray_stub).")
    module.__path__ = []  # a package, so that `import ray.a.b` finds its children in sys.modules
    module.__dict__.update(attributes)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)
    return module


# The submodules verl 0.9.1 imports, each with the names it reads from them at import time.
_submodule("ray.actor", ActorHandle=_placeholder_class("ray.actor.ActorHandle"))
_submodule("ray.util", list_named_actors=_unavailable("ray.util.list_named_actors"),
           get_node_ip_address=_unavailable("ray.util.get_node_ip_address"),
           placement_group_table=_unavailable("ray.util.placement_group_table"))
_submodule("ray.util.collective")
_submodule("ray.util.placement_group", PlacementGroup=_placeholder_class("ray.util.placement_group.PlacementGroup"),
           placement_group=_unavailable("ray.util.placement_group.placement_group"))
_submodule("ray.util.scheduling_strategies",
           NodeAffinitySchedulingStrategy=_placeholder_class(
               "ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy"),
           PlacementGroupSchedulingStrategy=_placeholder_class(
               "ray.util.scheduling_strategies.PlacementGroupSchedulingStrategy"))
_submodule("ray.experimental")
_submodule("ray.experimental.state")
_submodule("ray.experimental.state.api", get_actor=_unavailable("ray.experimental.state.api.get_actor"))
