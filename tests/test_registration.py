"""Registration through the verl.plugins entry point only: fresh processes, Ray workers, failures, re-imports."""

import os
import subprocess
import sys
import textwrap

import pytest

from abc_grpo_verl import __version__

CHECK = ("from verl.trainer.ppo import core_algos as c; "
         "print('abc_grpo' in c.POLICY_LOSS_REGISTRY, 'abc_grpo' in c.ADV_ESTIMATOR_REGISTRY)")


def run_python(code, **env):
    unset = ("VERL_USE_EXTERNAL_MODULES", "VERL_USE_EXTERNAL_PLUGINS")
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, timeout=300)


def test_import_verl_alone_registers_both():
    result = run_python(f"import verl\n{CHECK}\nimport sys; print('abc_grpo_verl.algos' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True"]


def test_disabled_entry_point_registers_nothing_and_the_env_fallback_does():
    """Proves the entry point is what registered above, and documents the VERL_USE_EXTERNAL_MODULES fallback."""
    off = run_python(f"import verl\n{CHECK}", VERL_USE_EXTERNAL_PLUGINS="none")
    assert off.stdout.split() == ["False", "False"], off.stderr
    fallback = run_python(f"import verl\n{CHECK}", VERL_USE_EXTERNAL_PLUGINS="none",
                          VERL_USE_EXTERNAL_MODULES="abc_grpo_verl.plugin")
    assert fallback.stdout.split() == ["True", "True"], fallback.stderr


def test_import_failure_is_logged_loudly_not_swallowed():
    # sys.modules[name] = None makes the next import of that name raise ImportError, inside verl's entry-point loop
    result = run_python("import sys; sys.modules['abc_grpo_verl.algos'] = None\nimport verl\n" + CHECK)
    assert result.returncode == 0  # verl itself swallows the error ...
    assert result.stdout.split() == ["False", "False"]
    # ... but the plugin has already shouted, with the traceback of the real cause
    assert f"abc_grpo_verl {__version__} failed to register" in result.stderr
    assert "import of abc_grpo_verl.algos halted" in result.stderr


def test_importing_twice_and_reloading_is_harmless():
    result = run_python(f"""
        import importlib, verl
        import abc_grpo_verl.algos, abc_grpo_verl.plugin
        import abc_grpo_verl.algos
        importlib.reload(abc_grpo_verl.algos)
        importlib.reload(abc_grpo_verl.plugin)
        from abc_grpo_verl.plugin import registration_errors
        print(registration_errors())
        {CHECK}
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "True", "True"]


@pytest.mark.slow
def test_registered_inside_a_ray_worker():
    """A Ray worker process that only imports verl sees both names, as verl's actor workers and TaskRunner do."""
    result = run_python("""
        import ray
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)

        @ray.remote
        def probe():
            import os
            import verl
            from verl.trainer.ppo import core_algos as c
            return os.getpid(), 'abc_grpo' in c.POLICY_LOSS_REGISTRY, 'abc_grpo' in c.ADV_ESTIMATOR_REGISTRY

        pid, loss, estimator = ray.get(probe.remote())
        print(pid != os.getpid(), loss, estimator)
        ray.shutdown()
    """.replace("import ray\n", "import os, ray\n", 1), RAY_DISABLE_USAGE_STATS="1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == ["True", "True", "True"]
