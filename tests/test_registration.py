"""The verl.plugins entry point: registration and the validate_config wrapper, in fresh processes, Ray workers,
failures and re-imports."""

import inspect
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from abc_grpo_verl import __version__, plugin

CHECK = ("from verl.trainer.ppo import core_algos as c; "
         "print('abc_grpo' in c.POLICY_LOSS_REGISTRY, 'abc_grpo' in c.ADV_ESTIMATOR_REGISTRY)")


def run_python(code, **env):
    unset = ("VERL_USE_EXTERNAL_MODULES", "VERL_USE_EXTERNAL_PLUGINS")
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, timeout=300)


def test_import_verl_alone_registers_both_and_main_ppo_binds_the_wrapped_validate_config():
    """Fails when verl moves or renames validate_config, or main_ppo stops binding it at import: then plain
    `python -m verl.trainer.main_ppo` would skip the ABC-GRPO preflight."""
    result = run_python(f"""
        import sys, verl
        {CHECK}
        print('abc_grpo_verl.algos' in sys.modules)
        import verl.trainer.main_ppo as main_ppo, verl.utils, verl.utils.config as verl_config
        for function in (main_ppo.validate_config, verl.utils.validate_config, verl_config.validate_config):
            print(getattr(function, 'abc_grpo_verl_preflight', False))
        print(verl_config.validate_config.__wrapped__.__module__, verl_config.validate_config.__wrapped__.__name__)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"] * 6 + ["verl.utils.config", "validate_config"]


def test_the_wrapper_finds_the_config_argument_in_verls_signature():
    from verl.utils import config as verl_config

    assert "config" in inspect.signature(verl_config.validate_config.__wrapped__).parameters


def test_a_missing_validate_config_is_an_error_log_not_silence(monkeypatch, caplog):
    from verl.utils import config as verl_config

    monkeypatch.delattr(verl_config, "validate_config")
    with caplog.at_level(logging.ERROR, logger="abc_grpo_verl"):
        assert plugin.install_preflight() is False
    assert "verl.utils.config.validate_config is gone from this verl" in caplog.text
    assert "will NOT run the ABC-GRPO preflight" in caplog.text


def test_preflight_switch_off_leaves_verls_function_behind_a_guard(monkeypatch):
    from verl.utils import config as verl_config

    original = verl_config.validate_config.__wrapped__
    monkeypatch.setattr(verl_config, "validate_config", original)
    monkeypatch.setenv("ABC_GRPO_PREFLIGHT", "0")
    # verl's function, behind only the guard that refuses what needs the preflight (tests/test_main_ppo.py)
    assert plugin.install_preflight() is False and verl_config.validate_config.__wrapped__ is original
    assert verl_config.validate_config.abc_grpo_verl_guard
    assert not hasattr(verl_config.validate_config, "abc_grpo_verl_preflight")
    assert plugin.install_preflight() is False and verl_config.validate_config.__wrapped__ is original  # once
    monkeypatch.setenv("ABC_GRPO_PREFLIGHT", "1")
    assert plugin.install_preflight() is True and verl_config.validate_config.__wrapped__ is original


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
        from verl.trainer.ppo import core_algos
        print(core_algos.get_policy_loss_fn("abc_grpo") is abc_grpo_verl.algos.compute_policy_loss_abc_grpo
              and core_algos.get_adv_estimator_fn("abc_grpo") is abc_grpo_verl.algos.compute_abc_grpo_outcome_advantage)
        {CHECK}
        from verl.utils import config as verl_config
        print(hasattr(verl_config.validate_config.__wrapped__, 'abc_grpo_verl_preflight'))  # wrapped once only
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "False"]


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
