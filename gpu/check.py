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
"""The GPU check: the plugin's loss, an actor update through verl's FSDP engine, the demo and the evaluation, on one
device, in one command, with a report. See gpu/README.md.

    python gpu/check.py --device cuda --out docs/gpu        # on a GPU machine (through gpu/run.sh)
    python gpu/check.py --device cpu                        # toy sizes, what CI runs (tests/test_gpu_check.py)

Each part runs in its own child process with its own time budget (a hang, a crash or a CUDA error in one part never
costs the others), writes its results as it goes, and is reported as ok, failed (with the error), timed out (with
what it finished) or skipped (with the reason). The report goes to --out as <date>-<commit>.md and .json, and a
short table is printed last.
"""

import argparse
import datetime
import importlib
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PARTS = ("loss", "actor", "demo", "eval")

# What each part runs, per device. Every value can be changed with --set PART.KEY=JSON.
SETTINGS = {
    "cuda": {
        "loss": {"shapes": ["256x8192", "1024x8192"], "dtypes": ["fp32", "bf16"], "repeats": 7,
                 "loss_agg_mode": "token-mean", "equality_shape": "256x8192"},
        # ~335M parameters (hidden 2048, 4 layers, 32k vocabulary); 8 prompts x 4 responses of up to 512 + 3584
        # tokens (~80k tokens), 2 mini-batches of 4 prompts, dynamic micro-batches of at most 16k tokens
        "actor": {"hidden": 2048, "intermediate": 6144, "layers": 4, "heads": 16, "kv_heads": 8, "head_dim": 128,
                  "vocab": 32768, "prompts": 8, "n": 4, "prompt_len": 512, "response_len": 3584,
                  "mini_batch_prompts": 4, "max_token_len": 16384, "repeats": 4, "lr": 1e-6,
                  "old_log_prob_noise": 0.1, "path": "engine"},
        # the CPU default is hidden 64, 2 layers, 3 seeds
        "demo": {"args": ["--hidden", "256", "--layers", "4", "--seeds", "0", "1", "2", "3", "4", "--steps", "60"]},
        "eval": {"hidden": 1024, "intermediate": 3072, "layers": 8, "heads": 8, "kv_heads": 4, "head_dim": 128,
                 "vocab": 512, "problems": 32, "k": 8, "max_tokens": 512, "batch_size": 256},
    },
    "cpu": {
        "loss": {"shapes": ["4x64"], "dtypes": ["fp32"], "repeats": 3, "loss_agg_mode": "token-mean",
                 "equality_shape": "16x64"},
        "actor": {"hidden": 64, "intermediate": 128, "layers": 2, "heads": 4, "kv_heads": 2, "head_dim": 16,
                  "vocab": 512, "prompts": 2, "n": 4, "prompt_len": 16, "response_len": 48,
                  "mini_batch_prompts": 1, "max_token_len": 256, "repeats": 1, "lr": 1e-6,
                  "old_log_prob_noise": 0.1, "path": "engine"},
        "demo": {"args": ["--quick", "--steps", "2", "--seed", "0"]},
        "eval": {"hidden": 32, "intermediate": 64, "layers": 1, "heads": 2, "kv_heads": 1, "head_dim": 16,
                 "vocab": 512, "problems": 4, "k": 2, "max_tokens": 8, "batch_size": 8},
    },
}
# Seconds per part, and for the whole run (the GPU run must end well inside one 8-minute device call).
BUDGET_S = {"cuda": {"loss": 100, "actor": 120, "demo": 130, "eval": 50},
            "cpu": {"loss": 120, "actor": 120, "demo": 120, "eval": 60}}
DEADLINE_S = {"cuda": 420, "cpu": 480}
MIN_PART_S = 15  # a part is skipped rather than started with less time than this left under the deadline
LOG_TAIL_BYTES = 200_000  # per part, in the log file written next to the report


# ---------------------------------------------------------------------------------------------------------------
# Inside a part's child process.


class PartResult:
    """What a part reports, written to disk after every step so a part killed at its budget keeps its progress."""

    def __init__(self, path: Path):
        self.path, self.status, self.reason, self.data = path, "running", None, {}

    def save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"status": self.status, "reason": self.reason, "data": self.data},
                                        default=str))
        temporary.replace(self.path)

    def skip(self, reason: str) -> None:
        self.status, self.reason = "skipped", reason
        self.save()

    def fail(self, reason: str) -> None:
        self.status, self.reason = "failed", reason
        self.save()


def environment() -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("verl", "transformers", "triton", "tensordict", "ray"):
        try:
            module = importlib.import_module(name)
            info[name] = getattr(module, "__version__", "?")
        except Exception as error:  # an optional package missing (or broken) is a fact to report, not an error
            info[name] = f"not importable ({type(error).__name__})"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
    return info


def run_part_here(part: str, settings_path: Path, result_path: Path) -> int:
    settings = json.loads(settings_path.read_text())
    result = PartResult(result_path)
    result.save()
    result.data["env"] = environment()
    try:
        importlib.import_module(f"{part}_part").run(settings, result)
    except Exception as error:
        traceback.print_exc()
        result.fail(f"{type(error).__name__}: {error}"[:2000])
        return 1
    if result.status == "running":
        result.status = "ok"
    result.save()
    return 0


# ---------------------------------------------------------------------------------------------------------------
# The parent: budgets, child processes, the report.


def parse_assignments(assignments: list[str], settings: dict) -> None:
    """Apply --set PART.KEY=JSON, naming the flag, the key and the valid keys on error."""
    for text in assignments:
        target, sep, value = text.partition("=")
        part, dot, key = target.partition(".")
        if not sep or not dot or part not in settings or key not in settings[part]:
            raise SystemExit(f"--set {text!r} is invalid: expected PART.KEY=VALUE with PART.KEY one of "
                             f"{sorted(f'{p}.{k}' for p in settings for k in settings[p])}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value  # a bare string, e.g. --set actor.path=fallback
        default = settings[part][key]
        expected = (int, float) if isinstance(default, float) else type(default)
        if not isinstance(parsed, expected) or isinstance(parsed, bool) != isinstance(default, bool):
            raise SystemExit(f"--set {text!r} is invalid: {part}.{key} takes a {type(default).__name__} "
                             f"(default {json.dumps(default)}), got {json.dumps(parsed)}")
        settings[part][key] = parsed


def parse_budgets(assignments: list[str], budgets: dict) -> None:
    for text in assignments:
        part, sep, value = text.partition("=")
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not sep or part not in budgets or seconds <= 0:
            raise SystemExit(f"--budget {text!r} is invalid: expected PART=SECONDS with PART in {list(budgets)} "
                             "and SECONDS > 0")
        budgets[part] = seconds


def child_env(ray_mode: str, part: str, device: str) -> tuple[dict, str]:
    """PYTHONPATH for a part: this folder, the repository (the package need not be installed) and, where Ray is
    missing or --ray stub, the import stub."""
    ray_found = importlib.util.find_spec("ray") is not None
    use_stub = ray_mode == "stub" or (ray_mode == "auto" and not ray_found)
    paths = ([str(HERE / "ray_stub")] if use_stub else []) + [str(HERE), str(ROOT)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    if part == "loss" and device == "cpu":
        # bench_loss measures CPU peak memory in a process started with this glibc setting, and starts one (a second
        # verl import) unless this process already is one: toy sizes do not need the second process
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    return env, "stub (gpu/ray_stub)" if use_stub else "installed ray"


def run_part(part: str, settings: dict, budget: float, env: dict, work: Path) -> dict:
    settings_path, result_path, log_path = (work / f"{part}.{suffix}" for suffix in ("settings.json", "result.json",
                                                                                     "log"))
    settings_path.write_text(json.dumps(settings))
    command = [sys.executable, str(HERE / "check.py"), "--run-part", part, "--settings", str(settings_path),
               "--result", str(result_path)]
    start = time.perf_counter()
    timed_out = False
    with log_path.open("w") as log:
        # its own session, so that a part stopped at its budget goes with every process it started
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                 start_new_session=True)
        try:
            returncode = child.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(child.pid, signal.SIGKILL)
            returncode = child.wait()
    wall = time.perf_counter() - start
    outcome = json.loads(result_path.read_text()) if result_path.is_file() else {"data": {}}
    log_text = log_path.read_text(errors="replace")
    if timed_out:
        status, reason = "timed out", f"stopped at its {budget:.0f} s budget; results below are what it finished"
    elif outcome.get("status") in ("ok", "skipped", "failed"):
        status, reason = outcome["status"], outcome.get("reason")
    else:
        status, reason = "failed", f"exited with code {returncode} before reporting: {last_error(log_text)}"
    return {"status": status, "reason": reason, "wall_s": round(wall, 1), "budget_s": budget,
            "data": outcome.get("data", {}), "log": str(log_path), "log_tail": log_text[-LOG_TAIL_BYTES:]}


def last_error(log_text: str) -> str:
    lines = [line for line in log_text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^\S*(Error|Exception)\b", line.split(":")[0].strip())]
    return (errors or lines or ["no output"])[-1][:500]


def commit_id(given: str | None) -> str:
    if given:
        return given
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):  # the GPU machine's copy of the tree may have no .git
        return "nocommit"


# ---------------------------------------------------------------------------------------------------------------
# The report.


def _f(value, spec=".2f", missing="-"):
    return missing if value is None else format(value, spec)


def loss_headline(d: dict) -> str:
    """abc_grpo's time and peak-memory ratios to vanilla over the shapes and dtypes, eager and fused."""
    vanilla = {(r["shape"], r["dtype"]): r for r in d["rows"] if r["loss"] == "vanilla"}
    parts = []
    for label in ("abc_grpo", "abc_grpo fused"):
        rows = [r for r in d["rows"] if r["loss"] == label and (r["shape"], r["dtype"]) in vanilla]
        if not rows:
            continue
        time_ratios = [r["ratio_to_vanilla"] for r in rows]
        memory_ratios = [r["peak_extra_mib"] / vanilla[r["shape"], r["dtype"]]["peak_extra_mib"] for r in rows
                         if vanilla[r["shape"], r["dtype"]]["peak_extra_mib"] > 0]
        text = f"{label}: time {min(time_ratios):.2f}-{max(time_ratios):.2f}x"
        if memory_ratios:
            text += f", peak memory {min(memory_ratios):.2f}-{max(memory_ratios):.2f}x"
        parts.append(text)
    equality = d.get("equality", [])
    verdict = "yes" if equality and all(e["equal"] for e in equality) else "NO" if equality else "not checked"
    return f"vs vanilla: {'; '.join(parts) or 'no abc_grpo rows'}; fused == eager: {verdict}"


def headline(part: str, result: dict) -> str:
    """One line per part for the printed table."""
    d = result["data"]
    if result["status"] not in ("ok", "timed out", "failed") or not d:
        return result.get("reason") or ""
    if part == "loss" and d.get("rows"):
        return loss_headline(d)
    if part == "actor" and "step_time_ratio" in d:
        memory = f", peak memory {d['peak_memory_ratio']:.3f}x" if "peak_memory_ratio" in d else ""
        return f"{d['path']}: step time abc/vanilla {d['step_time_ratio']:.3f}x{memory}, finite: {d['finite']}"
    if part == "demo" and "wall_s" in d:
        return f"{d['records']} metric records in {d['wall_s']:.0f} s"
    if part == "eval" and "samples_per_s" in d:
        return f"{d['samples']} samples, {d['samples_per_s']:.1f} samples/s, {d['tokens_per_s']:.0f} tokens/s"
    return result.get("reason") or f"stage: {d.get('stage', '?')}"


def loss_section(d: dict) -> list[str]:
    lines = ["Compiled (`ABC_GRPO_COMPILE=1`) against eager, abc_grpo through `get_policy_loss_fn`, fresh inputs:", "",
             "| shape | dtype | compiled | rel. error loss | grad | metrics (max) | bound | equal |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for e in d.get("equality", []):
        err = e["relative_error"]
        lines.append(f"| {e['shape']} | {e['dtype']} | {'yes' if e['compiled'] else 'NO'} | {err['loss']:.1e} | "
                     f"{err['grad']:.1e} | {err['metrics (max)']:.1e} | {e['tolerance']:.0e} | "
                     f"{'yes' if e['equal'] else 'NO'} |")
        if e["compile_warnings"]:
            lines.append(f"| | | warnings: {'; '.join(e['compile_warnings'])[:300]} | | | | | |")
    lines += ["", "bench/bench_loss.py's `bench_losses`, forward + backward, median of interleaved repetitions:", "",
              ("| shape | dtype | loss | median ms | ratio to vanilla | x memory floor | % of copy bandwidth | "
               "peak extra MiB | host syncs |"), "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in d.get("rows", []):
        lines.append(f"| {r['shape']} | {r['dtype']} | {r['loss']} | {r['median_ms']:.3f} | "
                     f"{r['ratio_to_vanilla']:.2f} | {r['times_floor']:.1f} | {100 * r['bandwidth_share']:.1f} | "
                     f"{r['peak_extra_mib']:.0f} | {r['host_syncs']} |")
    copies = {(r["shape"], r["dtype"]): r["copy_gb_per_s"] for r in d.get("rows", [])}
    if copies:
        lines += ["", "Copy bandwidth measured in the same repetitions (read + write): " +
                  ", ".join(f"{shape} {dtype} {gbs:.3g} GB/s" for (shape, dtype), gbs in copies.items()) + "."]
    return lines


def actor_section(d: dict) -> list[str]:
    if "path" not in d:
        return []
    lines = []
    if d["path"] == "engine":
        lines.append("Path: **verl's FSDP2 engine** (`ActorRolloutRefWorker(role='actor')`, `TrainingWorker`, "
                     "`RayPPOTrainer._compute_old_log_prob` / `_update_actor` in-process).")
    else:
        why = (f"because the engine path failed at stage '{d['engine_stopped_at']}': `{d['engine_error']}`"
               if "engine_error" in d else "as requested (--set actor.path=fallback)")
        lines.append(f"Path: **fallback** (torch FSDP2 `fully_shard` + Hugging Face Qwen3 + verl's `ppo_loss`), {why}.")
    lines.append(f"Model: random Qwen3, {d.get('parameters', 0):,} parameters; "
                 f"{d.get('tokens_per_update', '?')} tokens per update; updates done per loss: "
                 f"{d.get('updates_done', 0)}; old log-probs: the model's own recomputation plus Gaussian noise of std "
                 f"{d.get('old_log_prob_noise')}, so that tokens leave their bands (see gpu/actor_part.py).")
    if d.get("overrides"):
        lines.append("Config: packaged `abc_grpo_trainer` + `" + " ".join(d["overrides"]) + "` (vanilla: the same "
                     "with `loss_mode=vanilla`).")
    if "metrics" in d:
        keys = sorted({k for m in d["metrics"].values() for k in m})
        lines += ["", "| | median step s | peak GiB | " + " | ".join(keys) + " |",
                  "|---|---:|---:|" + "---:|" * len(keys)]
        for mode, metrics in d["metrics"].items():
            peak = d.get("peak_gib", {}).get(mode)
            lines.append(f"| {mode} | {d['median_step_s'][mode]:.3f} | {_f(peak)} | " +
                         " | ".join(_f(metrics.get(k), '.4g') for k in keys) + " |")
        lines += ["", f"Step time abc_grpo / vanilla: {d['step_time_ratio']:.3f}; peak memory ratio: "
                  f"{_f(d.get('peak_memory_ratio'), '.3f', 'not measured (CPU)')}; loss and grad norm finite: "
                  f"{d['finite']}. Step time: median over the updates after each worker's first (which also builds the "
                  "optimizer state and compiles); peak: memory allocated during an update above what was allocated "
                  "before it, highest over those updates. Metrics: each loss's first update (same weights, same "
                  "batch), mean over mini-batches."]
    return lines


def demo_section(d: dict) -> list[str]:
    if "argv" not in d:
        return []
    lines = [f"`{' '.join(d['argv'])}`"]
    if "wall_s" in d:
        # the demo's own headings, one level down inside this report's section
        section = re.sub(r"^(#+) ", r"\1## ", d["results_section"], flags=re.M)
        lines += [f"Wall time {d['wall_s']:.0f} s, {d['records']} metric records.", "", section]
    return lines


def eval_section(d: dict) -> list[str]:
    if "argv" not in d:
        return []
    lines = [f"Random Qwen3 ({d.get('parameters', 0):,} parameters, byte-level tokenizer) on synthetic "
             "arithmetic problems: a throughput measure (from model load to written results), not a score.", "",
             f"`{' '.join(d['argv'])}`"]
    if "samples_per_s" in d:
        lines.append(f"{d['samples']} samples, {d['tokens']} tokens in {d['wall_s']:.1f} s: "
                     f"{d['samples_per_s']:.1f} samples/s, {d['tokens_per_s']:.0f} tokens/s.")
    return lines


SECTIONS = {"loss": ("Loss: abc_grpo vs verl's losses", loss_section),
            "actor": ("Actor update through verl's engine", actor_section),
            "demo": ("Demo", demo_section), "eval": ("Evaluation (HF backend)", eval_section)}


def write_report(out: Path, stem: str, meta: dict, results: dict, extra_files: dict) -> Path:
    env = meta["env"]
    machine = env.get("gpu", "CPU") + (f" ({env['gpu_memory_gib']} GiB, CUDA {env.get('cuda')})" if "gpu" in env
                                       else "")
    versions = ", ".join(f"{k} {env[k]}" for k in ("python", "torch", "verl", "transformers", "triton", "tensordict")
                         if k in env)
    lines = [f"# GPU check {meta['date']} ({meta['commit']}), device {meta['device']}", "",
             f"Machine: {machine}; {versions}; Ray: {meta['ray']}. Wall time {meta['wall_s']:.0f} s "
             f"(deadline {meta['deadline_s']:.0f} s).", "", f"Command: `{meta['command']}`", "",
             "| part | status | wall s | budget s | result |", "|---|---|---:|---:|---|"]
    for part, result in results.items():
        lines.append(f"| {part} | {result['status']} | {result['wall_s']} | {result['budget_s']:.0f} | "
                     f"{headline(part, result)} |")
    if meta["device"] == "cpu":
        lines += ["", "A CPU run at toy sizes: it shows the harness works end to end; its timings and ratios say "
                      "nothing about a GPU."]
    for part, result in results.items():
        title, section = SECTIONS[part]
        lines += ["", f"## {title}", "", f"Status: {result['status']}" +
                  (f" ({result['reason']})" if result.get("reason") else "") + ".", ""]
        lines += section(result["data"])
        if result["status"] in ("failed", "timed out"):
            lines += ["", "Last lines of its log:", "", "```", *result["log_tail"].splitlines()[-15:], "```"]
    if extra_files:
        lines += ["", "Files next to this report: " + ", ".join(f"`{name}`" for name in extra_files) + "."]
    report = out / f"{stem}.md"
    report.write_text("\n".join(lines) + "\n")
    stored = {part: {k: v for k, v in r.items() if k not in ("log_tail", "log")} for part, r in results.items()}
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "parts": stored}, indent=1, default=str))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cuda: the realistic sizes; cpu: toy sizes, to check the harness (default: cuda)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    parser.add_argument("--out", type=Path, default=None,
                        help="report folder (default: docs/gpu for cuda, runs/gpu-check for cpu)")
    parser.add_argument("--set", action="append", default=[], metavar="PART.KEY=JSON",
                        help="change one setting of a part, e.g. --set demo.args='[\"--seeds\",\"0\"]'")
    parser.add_argument("--budget", action="append", default=[], metavar="PART=SECONDS",
                        help="change one part's time budget")
    parser.add_argument("--deadline-s", type=float, default=None,
                        help="the whole run's wall-time limit; each part gets at most what is left "
                             f"(default: {DEADLINE_S})")
    parser.add_argument("--ray", choices=("auto", "stub", "real"), default="auto",
                        help="auto: the import stub gpu/ray_stub only where `import ray` fails (default: auto)")
    parser.add_argument("--commit", default=None, help="commit id for the report's name (default: git rev-parse)")
    parser.add_argument("--work-dir", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--run-part", choices=PARTS, help=argparse.SUPPRESS)  # internal: run one part here
    parser.add_argument("--settings", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_part:
        return run_part_here(args.run_part, args.settings, args.result)

    started = time.perf_counter()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f"--parts={args.parts!r} is invalid: {unknown or 'empty'}; choose from {list(PARTS)}")
    if args.ray == "real" and importlib.util.find_spec("ray") is None:
        parser.error("--ray real, but `import ray` finds no ray here (use --ray auto or stub)")
    settings = json.loads(json.dumps(SETTINGS[args.device]))
    budgets = dict(BUDGET_S[args.device])
    parse_assignments(args.set, settings)
    parse_budgets(args.budget, budgets)
    deadline = args.deadline_s if args.deadline_s is not None else DEADLINE_S[args.device]
    if deadline <= 0:
        parser.error(f"--deadline-s={deadline} is invalid: must be > 0")
    out = args.out or ROOT / ("docs/gpu" if args.device == "cuda" else "runs/gpu-check")
    out.mkdir(parents=True, exist_ok=True)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="abc-grpo-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    commit = commit_id(args.commit)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    stem = f"{date}-{commit}" + ("" if args.device == "cuda" else "-cpu")

    results, ray_used = {}, None
    for part in parts:
        left = deadline - (time.perf_counter() - started)
        if left < MIN_PART_S:
            results[part] = {"status": "skipped", "reason": f"{left:.0f} s left under the {deadline:.0f} s deadline",
                             "wall_s": 0.0, "budget_s": 0.0, "data": {}, "log_tail": ""}
            continue
        env, ray_used = child_env(args.ray, part, args.device)
        part_settings = {"device": args.device, "work_dir": str(work), **settings}
        print(f"[gpu-check] {part}: budget {min(budgets[part], left):.0f} s ...", flush=True)
        results[part] = run_part(part, part_settings, min(budgets[part], left), env, work)
        print(f"[gpu-check] {part}: {results[part]['status']} in {results[part]['wall_s']} s", flush=True)

    env_info = next((r["data"]["env"] for r in results.values() if r["data"].get("env")), {})
    extra = {}
    demo_files = results.get("demo", {}).get("data", {}).get("files", {})
    for name in ("summary.md", "dynamics.png"):
        if name in demo_files:
            extra[f"{stem}-demo-{name}"] = shutil.copyfile(demo_files[name], out / f"{stem}-demo-{name}")
    with (out / f"{stem}.log").open("w") as log:
        for part, result in results.items():
            log.write(f"===== {part}: {result['status']} =====\n{result['log_tail']}\n")
    extra[f"{stem}.log"] = out / f"{stem}.log"
    meta = {"date": date, "commit": commit, "device": args.device, "ray": ray_used, "env": env_info,
            "wall_s": time.perf_counter() - started, "deadline_s": deadline, "budgets_s": budgets,
            "settings": settings, "command": " ".join(["python gpu/check.py", *(argv if argv is not None
                                                                                  else sys.argv[1:])])}
    report = write_report(out, stem, meta, results, extra)

    print(f"\n[gpu-check] report: {report} (+ .json, {', '.join(extra)})")
    print(f"{'part':<7} {'status':<10} {'wall s':>7}  result")
    for part, result in results.items():
        print(f"{part:<7} {result['status']:<10} {result['wall_s']:>7}  {headline(part, result)}")
    return 0 if all(r["status"] in ("ok", "skipped") for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
