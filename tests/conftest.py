"""Shared fixtures: verl's registries are restored after every test (verl's own tests clear them)."""

import pytest
from verl.trainer.ppo import core_algos

import abc_grpo_verl.algos  # noqa: F401  (registers abc_grpo even if the entry point were disabled)


@pytest.fixture(autouse=True)
def restore_verl_registries():
    losses, estimators = dict(core_algos.POLICY_LOSS_REGISTRY), dict(core_algos.ADV_ESTIMATOR_REGISTRY)
    yield
    core_algos.POLICY_LOSS_REGISTRY.clear()
    core_algos.POLICY_LOSS_REGISTRY.update(losses)
    core_algos.ADV_ESTIMATOR_REGISTRY.clear()
    core_algos.ADV_ESTIMATOR_REGISTRY.update(estimators)
