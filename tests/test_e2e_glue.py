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
"""The end-to-end run's CPU glue (e2e/cpu_glue) stays out of users' jobs, and e2e/run.py refuses bad arguments.

The end-to-end run itself is `make e2e` (e2e/test_e2e.py); these checks need only the test environment.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GLUE = REPO / "e2e" / "cpu_glue"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "PYTHONPATH")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, timeout=300, cwd=REPO)


def test_the_package_brings_no_platform_and_ships_no_glue():
    """Installing abc-grpo-verl registers the loss and the estimator, never a platform: verl's choice of device in
    a user's job is what it would be without the package."""
    result = run_python("""
        import verl, abc_grpo_verl.plugin
        from importlib.metadata import entry_points
        from verl.plugin.platform.platform_manager import PlatformRegistry
        print(sorted(PlatformRegistry.registered_names()))
        print(sorted(ep.value for ep in entry_points(group="verl.plugins") if ep.dist.name == "abc-grpo-verl"))
        import importlib.util
        print(importlib.util.find_spec("abc_grpo_e2e_cpu") is None)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    platforms, entry_points, glue_absent = result.stdout.splitlines()[-3:]
    assert "cpu" not in platforms
    assert entry_points == "['abc_grpo_verl.plugin']"
    assert glue_absent == "True"


# verl is imported before the glue's folder joins sys.path: a build of the glue leaves its metadata (and entry point)
# there, which verl's plugin discovery would otherwise load first
GLUE_PROBE = """
    import sys
    import torch
    import verl.utils.distributed as distributed
    original = distributed.initialize_global_process_group_ray
    sys.path.insert(0, {glue!r})
    import abc_grpo_e2e_cpu.verl_cpu
    from verl.plugin.platform.platform_manager import PlatformRegistry
    print("cpu" in PlatformRegistry.registered_names())
    print(distributed.initialize_global_process_group_ray is not original)
    if "cpu" in PlatformRegistry.registered_names():
        platform = PlatformRegistry.get("cpu")()
        module = platform.device_module
        print(platform.current_device(), platform.communication_backend_name(), platform.ray_resource_name(),
              platform.is_ipc_supported(), platform.is_platform_available())
        print(module.set_rng_state is torch.set_rng_state, module.memory_allocated())
"""


def test_the_glue_does_nothing_unless_the_cpu_platform_is_asked_for():
    result = run_python(GLUE_PROBE.format(glue=str(GLUE)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-2:] == ["False", "False"]


def test_the_glue_registers_a_cpu_platform_and_a_plain_gloo_backend_when_asked():
    result = run_python(GLUE_PROBE.format(glue=str(GLUE)), VERL_PLATFORM="cpu")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-4:] == ["True", "True", "cpu gloo GPU False True", "True 0"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--only", "abc,ppo"], "unknown run(s) ['ppo']"),
        (["--only", ","], "unknown run(s) []"),
        (["--timeout", "0"], "--timeout 0.0: must be a positive number of seconds"),
        (["--fixture", "/nonexistent"], "no model/config.json; write it with `python e2e/make_fixture.py DIR`"),
    ],
)
def test_run_refuses_bad_arguments_before_starting_anything(arguments, message, tmp_path):
    fixture = ["--fixture", str(tmp_path)] if "--fixture" not in arguments else []
    result = subprocess.run([sys.executable, str(REPO / "e2e/run.py"), *fixture, *arguments,
                             "--output-dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_performance_table_divides_by_grpo(tmp_path):
    """Minimum over the steps after the first of each invocation (log), peak memory over a run's invocations,
    ratios to grpo. abc resumed: its second log's first step (0.5, a warm-up) is left out like its first log's."""
    for run, launches in (("abc", [[9.0, 2.0], [0.5, 3.0]]), ("grpo", [[8.0, 4.0, 1.0]])):
        for number, update in enumerate(launches):
            log = tmp_path / run / "train_logs" / f"2026010{number}-000000" / "p" / f"{run}.jsonl"
            log.parent.mkdir(parents=True)
            log.write_text("".join(json.dumps({"step": i + 1, "data": {
                "timing_s/update_actor": u, "timing_per_token_ms/update_actor": u / 10, "timing_s/step": 10 * u,
                "timing_s/gen": 1.0}}) + "\n" for i, u in enumerate(update)))
    (tmp_path / "runs.json").write_text(json.dumps([
        {"run": "abc", "peak_pss_gb": 6.0}, {"run": "abc", "peak_pss_gb": 7.5}, {"run": "grpo", "peak_pss_gb": 5.0}]))
    result = subprocess.run([sys.executable, str(REPO / "e2e/performance.py"), str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in result.stdout.splitlines()}
    assert rows["actor update (s)"] == ["2", "1", "2.00x"]
    assert rows["actor update per token (ms)"] == ["0.2", "0.1", "2.00x"]
    assert rows["whole step (s)"] == ["20", "10", "2.00x"]
    assert rows["peak memory, PSS (GB)"] == ["7.5", "5", "1.50x"]
    assert (tmp_path / "performance.md").read_text() == result.stdout
