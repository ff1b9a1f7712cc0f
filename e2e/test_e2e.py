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
"""What the end-to-end runs (e2e/run.py) must show, read from what verl wrote: its `file` logger's JSONL, its
checkpoints, its rollout dumps, the composed config of each invocation, and the report made from the logs.

Run by `make e2e` after e2e/run.py (E2E_RUNS: the runs' folder, default runs/e2e); not part of `make test`.
"""

import json
import math
import os
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

RUNS = Path(os.environ.get("E2E_RUNS", Path(__file__).resolve().parents[1] / "runs/e2e"))
# the runs e2e/run.py was asked for (its --only); every one of them must be there
EXPECTED = [name.strip() for name in os.environ.get("E2E_ONLY", "abc,grpo,dualclip,abc_legacy").split(",")
            if name.strip()]
needs_abc = pytest.mark.skipif("abc" not in EXPECTED, reason="the abc run was not asked for (E2E_ONLY)")
STEPS = [1, 2, 3, 4]
QUADRANTS = ["q1", "q2", "q3", "q4"]
ABC_RUNS = [run for run in ("abc", "abc_legacy") if run in EXPECTED]
# each baseline recipe's clip_ratio_c
BASELINES = {run: c for run, c in {"grpo": 3.0, "dualclip": 1.2}.items() if run in EXPECTED}
# verl's rollout-vs-trainer gap: the largest |p_vllm - p_fsdp| over tokens. Identical weights in fp32 give a few
# 1e-3 (different kernels); weights that did not reach vLLM after an update at this learning rate give far more.
MAX_PROB_GAP = 0.05


def records(run: str) -> list[dict]:
    """Every record of every `file` logger log of `run` (one log per invocation), in step order."""
    logs = sorted((RUNS / run / "train_logs").glob("*/*/*.jsonl"))
    assert logs, f"no verl file-logger log under {RUNS / run}"
    found = [json.loads(line) for log in logs for line in log.read_text().splitlines() if line.strip()]
    return sorted(found, key=lambda record: record["step"])


def composed_config(run: str, steps: int = 4) -> dict:
    """The config hydra composed for the invocation that ran to `steps` (the recipe's overrides applied)."""
    return yaml.safe_load((RUNS / run / f"hydra-{steps}" / ".hydra" / "config.yaml").read_text())


def full(tensor: torch.Tensor) -> torch.Tensor:
    """A checkpoint tensor as one tensor (FSDP2 saves DTensors)."""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor


@pytest.fixture(scope="module")
def invocations() -> list[dict]:
    return json.loads((RUNS / "runs.json").read_text())


def test_every_invocation_exited_0_within_its_timeout_and_left_nothing_running(invocations):
    assert {i["run"] for i in invocations} == set(EXPECTED)
    for invocation in invocations:
        assert invocation["returncode"] == 0 and not invocation["timed_out"], invocation
        assert invocation["survivors"] == [], invocation  # every process it started is gone
    for run in {i["run"] for i in invocations}:
        assert any(i["run"] == run and i["steps"] == STEPS[-1] for i in invocations), run


@pytest.mark.parametrize("run", EXPECTED)
def test_every_step_logged_exactly_once(run):
    assert [record["step"] for record in records(run)] == STEPS


@pytest.mark.parametrize("run", ABC_RUNS)
def test_abc_runs_log_the_quadrants_and_the_band_clipped(run):
    logged = records(run)
    for record in logged:
        for q in QUADRANTS:
            share, count = record["data"][f"actor/abc_clipfrac_{q}"], record["data"][f"actor/abc_clip_tokens_{q}"]
            assert 0.0 <= share <= 1.0 and count >= 0.0
        assert record["data"]["actor/abc_valid_tokens"] > 0
        # the reporting band is the baseline loss's: absent here means the abc_grpo loss itself ran
        assert not any(key.startswith("actor/abc_report_band_") for key in record["data"])
        # the band the abc_grpo loss clips at, under its own name: the recipes' default widths
        assert [record["data"][f"actor/abc_band_eps{i}"] for i in range(1, 5)] == pytest.approx([0.2] * 4)
    assert any(record["data"][f"actor/abc_clipfrac_{q}"] > 0 for record in logged for q in QUADRANTS)
    for record in logged:  # ABC's pg_clipfrac is every out-of-band token: the four quadrants' shares add up to it
        data = record["data"]
        assert data["actor/pg_clipfrac"] == pytest.approx(sum(data[f"actor/abc_clipfrac_{q}"] for q in QUADRANTS))
    config = composed_config(run)
    assert config["actor_rollout_ref"]["actor"]["policy_loss"]["loss_mode"] == "abc_grpo"
    assert config["algorithm"]["adv_estimator"] == "abc_grpo"


@pytest.mark.parametrize("run", BASELINES)
def test_baselines_train_verls_vanilla_and_count_quadrants_against_the_abc_band(run):
    for record in records(run):
        data = record["data"]
        assert 0.0 <= data["actor/pg_clipfrac"] <= 1.0
        assert [data[f"actor/abc_report_band_eps{i}"] for i in range(1, 5)] == pytest.approx([0.2] * 4)
        assert not any(key.startswith("actor/abc_band_") for key in data)  # that name is the abc_grpo loss's
        assert all(f"actor/abc_clipfrac_{q}" in data for q in QUADRANTS)
    config = composed_config(run)
    assert config["algorithm"]["policy_loss"] == "abc_grpo_vanilla"
    assert config["algorithm"]["adv_estimator"] == "grpo"
    assert config["actor_rollout_ref"]["actor"]["clip_ratio_c"] == BASELINES[run]


@pytest.mark.parametrize("run", EXPECTED)
def test_each_run_used_the_trainer_it_names(run):
    """abc_legacy on verl's RayPPOTrainer (use_v1=false), every other run on the V1 trainer, verl's default: the
    composed config says so, and so does the Ray actor that ran the trainer (TaskRunner or TaskRunnerV1)."""
    legacy = run == "abc_legacy"
    assert composed_config(run)["trainer"]["use_v1"] is not legacy
    console = (RUNS / run / "invocation-4.log").read_text(errors="replace")
    assert ("(TaskRunnerV1 pid=" in console) is not legacy
    assert ("(TaskRunner pid=" in console) is legacy


@pytest.mark.parametrize("run", EXPECTED)
def test_weights_reach_vllm_after_every_update(run):
    logged = records(run)
    # an update before the last step had a signal and moved the policy, so a later step's gap measures a sync of
    # weights that changed (each step's ppo_kl is the drift within its own 4 optimizer steps)
    assert any(record["data"]["critic/advantages/max"] > 0 and record["data"]["actor/ppo_kl"] > 1e-3
               for record in logged[:-1])
    for record in logged:
        gap = record["data"]["training/rollout_probs_diff_max"]
        assert math.isfinite(gap) and gap < MAX_PROB_GAP, (record["step"], gap)


@needs_abc
def test_the_resumed_run_continues_step_data_scheduler_and_optimizer():
    """abc ran to step 2 (checkpoint), then a second invocation resumed from it to step 4."""
    run = RUNS / "abc"
    # the checkpoint holds a trained model, not the fixture plus weight decay: a resume that lost the weights would
    # not pass unseen (weight decay alone moves a weight by about 1e-4 of its size in 2 steps)
    assert any(record["data"]["critic/advantages/max"] > 0 for record in records("abc")[:2])
    fixture = load_file(RUNS / "fixture" / "model" / "model.safetensors")
    trained = torch.load(run / "global_step_2/actor/model_world_size_1_rank_0.pt", weights_only=False,
                         map_location="cpu")
    change = max(float((full(trained[name]) - weight).abs().max() / weight.abs().max())
                 for name, weight in fixture.items() if name in trained)
    assert change > 1e-3
    logs = sorted((run / "train_logs").glob("*/*/*.jsonl"))
    steps_per_log = [[json.loads(line)["step"] for line in log.read_text().splitlines()] for log in logs]
    assert steps_per_log == [[1, 2], [3, 4]]
    # learning rate: a linear warm-up over 8 steps that the scheduler state carries across the resume
    lrs = [record["data"]["actor/lr"] for record in records("abc")]
    assert lrs == pytest.approx([1e-2 * step / 8 for step in STEPS])
    # data: the loader resumed where it stopped (no shuffle): four different batches of prompts
    prompts = [frozenset(json.loads(line)["input"] for line in (run / "rollouts" / f"{step}.jsonl").open())
               for step in STEPS]
    assert all(len(batch) == 4 for batch in prompts)
    assert len(set().union(*prompts)) == 16
    # optimizer: Adam's step count went on from the checkpoint's (2 rollouts x 4 optimizer steps each)
    def adam_steps(step: int) -> set[float]:
        state = torch.load(run / f"global_step_{step}/actor/optim_world_size_1_rank_0.pt", weights_only=False,
                           map_location="cpu")["state"]
        return {float(param_state["step"]) for param_state in state.values()}

    assert adam_steps(2) == {8.0}
    assert adam_steps(4) == {16.0}


@needs_abc
def test_the_abc_grpo_estimator_gave_grpo_advantages():
    """GRPO's A = (R - mean) / (std + eps) per group of n responses, the responses of a group whose rewards are all
    equal getting 0: the extremes verl logged, recomputed from the rollout dumps' scores."""
    for step in STEPS:
        rows = [json.loads(line) for line in (RUNS / "abc" / "rollouts" / f"{step}.jsonl").open()]
        by_prompt: dict[str, list[float]] = {}
        for row in rows:
            by_prompt.setdefault(row["input"], []).append(row["score"])
        group = composed_config("abc")["actor_rollout_ref"]["rollout"]["n"]
        assert all(len(scores) == group for scores in by_prompt.values())
        mixed = [scores for scores in by_prompt.values() if len(set(scores)) > 1]
        record = next(r for r in records("abc") if r["step"] == step)["data"]
        if not mixed:
            assert record["critic/advantages/max"] == pytest.approx(0.0, abs=1e-6)
            continue
        expected = []
        for scores in mixed:
            mean = sum(scores) / len(scores)
            std = math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
            expected += [(s - mean) / (std + 1e-6) for s in scores]
        assert record["critic/advantages/max"] == pytest.approx(max(expected), rel=1e-3)
        if len(mixed) < len(by_prompt):  # the responses of a group with equal rewards have advantage 0
            expected.append(0.0)
        assert record["critic/advantages/min"] == pytest.approx(min(expected), rel=1e-3)


def test_the_report_fills_its_panels_from_verls_own_metrics():
    """The report's table of the runs (the first table after "### your runs") has a column per run asked for
    and a number in every cell of the rows drawn from verl's own metrics."""
    assert (RUNS / "report" / "dynamics.png").stat().st_size > 10_000
    text = (RUNS / "report" / "dynamics.md").read_text()
    table = []
    for line in text[text.index("### your runs"):].splitlines()[1:]:
        if line.startswith("|"):
            table.append(line)
        elif table:  # the table ends at its first line that is not a row
            break
    header = [cell.strip() for cell in table[0].split("|")[2:-1]]
    assert header == EXPECTED
    rows = {}
    for line in table[2:]:
        label, *cells = [cell.strip() for cell in line.split("|")[1:-1]]
        assert label not in rows, f"row {label!r} twice"
        rows[label] = cells
    for label in ("entropy, final step", "reward, mean over steps", "pg_clipfrac (the loss's own), mean over steps",
                  "Q1 share of tokens, mean over steps", "Q4 share of tokens, mean over steps",
                  "rollout vs trainer prob gap (verl), mean over steps", "learning rate, final step"):
        assert label in rows, label
        for cell in rows[label]:
            float(cell.rstrip("%x"))  # a number, not blank, nan or a note
            assert cell.lower() not in ("nan", "n/a"), (label, rows[label])
