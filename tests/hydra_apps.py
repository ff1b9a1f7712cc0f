"""Run a hydra app (the launcher, or verl's own ``main_ppo``) in this process, as its command line would.

verl's ``run_ppo`` (what starts Ray and hands the config to the TaskRunner) is replaced by a recorder: a test sees
exactly the config object the TaskRunner would receive, and nothing starts. Hydra's logging setup is turned off (it
would replace pytest's handlers); the package's log lines are captured instead.
"""

import contextlib
import io
import logging
import sys
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

MICRO_BATCHES = ["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
                 "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2"]


def _policy_loss(**keys):
    return {"actor_rollout_ref": {"actor": {"policy_loss": keys}}}


ALIAS = {"algorithm": {"adv_estimator": "grpo", "policy_loss": "abc_grpo"}}
# a user's config files, as users write them: extending the packaged config, or verl's own
USER_CONFIGS = {
    "extends_abc": {"defaults": ["abc_grpo_trainer", "_self_"], **_policy_loss(clip_neg_high=0.28)},
    "alias_in_yaml": {"defaults": ["ppo_trainer", "_self_"], **ALIAS},
    "both_in_yaml": {"defaults": ["ppo_trainer", "_self_"], **ALIAS, **_policy_loss(loss_mode="vanilla")},
    "vanilla_in_yaml": {"defaults": ["ppo_trainer", "_self_"], "algorithm": {"adv_estimator": "grpo"},
                        **_policy_loss(loss_mode="vanilla")},
}


def write_user_configs(directory):
    """USER_CONFIGS as `<name>.yaml` files in `directory`, which is returned."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in USER_CONFIGS.items():
        OmegaConf.save(OmegaConf.create(content), directory / f"{name}.yaml")
    return directory


@dataclass
class Run:
    status: int  # 0: reached run_ppo or a dry run's exit; 2: the launcher's configuration error; 1: hydra's error
    out: str
    err: str
    log: str  # the abc_grpo_verl loggers' records, one per line
    config: object  # the DictConfig run_ppo received, or None

    def essentials(self) -> dict[str, str]:
        """The dry run's printed ``key = value`` lines."""
        lines = [line.strip().split(" = ", 1) for line in self.out.splitlines()
                 if line.startswith("  ") and " = " in line]
        return {key.strip(): value for key, value in lines}


def run_app(main, argv, run_dir, env=None) -> Run:
    """`main` (a ``@hydra.main`` function) on `argv`, in `run_dir`, with the environment changes in `env`."""
    import verl.trainer.main_ppo as main_ppo

    received = []
    out, err, log = io.StringIO(), io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(log)
    package_logger = logging.getLogger("abc_grpo_verl")
    status = 0
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for name, value in (env or {}).items():
            patch.delenv(name, raising=False) if value is None else patch.setenv(name, value)
        patch.setattr(main_ppo, "run_ppo", lambda config, task_runner_class: received.append(config))
        patch.setattr(sys, "argv", ["app", *argv, "hydra/job_logging=none", "hydra/hydra_logging=none",
                                    "hydra.output_subdir=null", f"hydra.run.dir={run_dir}"])
        package_logger.addHandler(handler)
        try:
            main()
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            package_logger.removeHandler(handler)
    return Run(status, out.getvalue(), err.getvalue(), log.getvalue(), received[0] if received else None)


def compose(config_name, overrides):
    """`config_name` (the packaged ``abc_grpo_trainer`` or verl's ``ppo_trainer``) as hydra composes it, unchecked."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module("abc_grpo_verl.conf", version_base=None):
        return hydra_compose(config_name, overrides=overrides)


def write_dataset(path, rows=2, columns=None):
    """A parquet file in the layout verl's RLHFDataset and reward managers read (the data scripts' output)."""
    table = {
        "data_source": ["openai/gsm8k"] * rows,
        "prompt": [[{"role": "user", "content": f"What is {i} + 1?"}] for i in range(rows)],
        "ability": ["math"] * rows,
        "reward_model": [{"style": "rule", "ground_truth": str(i + 1)} for i in range(rows)],
        "extra_info": [{"index": i, "split": "train"} for i in range(rows)],
    }
    if columns is not None:
        table = {name: values for name, values in table.items() if name in columns}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(table), path)
    return path
