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
"""Policy-loss benchmark: abc_grpo against verl's vanilla, gspo and cispo, side by side in one run.

    python bench/bench_loss.py                        # CPU, 256 x 4096, fp32 and bf16
    python bench/bench_loss.py --shapes 64x1024,256x4096 --device cuda --repeats 21

For each (shape, dtype) every loss runs forward + backward on the same inputs, the losses and two reference
passes (the memory floor and a plain copy) interleaved within each repetition so drift in machine load hits all
of them alike; the table reports the median time, the ratio of medians to vanilla and to the memory floor, the
share of the measured copy bandwidth, throughput, peak extra memory and the number of host syncs per call.
Ratios are the result; absolute times depend on the machine and its load. Results go to --out as JSON and
markdown.

Peak extra memory: on CUDA, torch.cuda.max_memory_allocated above the inputs. On CPU, the process's peak RSS
(VmHWM, reset through /proc/self/clear_refs) above its RSS before the call, measured in a child process run with
a fixed glibc mmap threshold so freed tensors go back to the OS and each call's peak is its own (that setting
slows every allocation down, so timings are taken in the parent, without it).
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# (label, verl loss_mode, extra policy_loss fields, ABC_GRPO_COMPILE value)
LOSSES = [
    ("vanilla", "vanilla", {}, "0"),
    ("gspo", "gspo", {}, "0"),
    ("cispo", "cispo", {}, "0"),
    ("abc_grpo", "abc_grpo", {}, "0"),
    ("abc_grpo (asymmetric)", "abc_grpo", {"clip_pos_high": 0.28, "clip_neg_high": 0.35}, "0"),
    ("abc_grpo (sequence)", "abc_grpo", {"ratio_level": "sequence"}, "0"),
    ("abc_grpo fused", "abc_grpo", {}, "1"),
    ("abc_grpo fused (asymmetric)", "abc_grpo", {"clip_pos_high": 0.28, "clip_neg_high": 0.35}, "1"),
]
MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"
# Timing on CPU: glibc hands every large tensor to mmap and back to the OS when freed, so each op that allocates pays
# page faults on first touch, a cost of the allocator and not of the loss (CUDA's caching allocator reuses freed
# blocks). These settings make glibc keep and reuse freed memory instead; --cpu-allocator=default measures without.
REUSE_FREED_MEMORY = {MMAP_ENV: str(2**40), "MALLOC_TRIM_THRESHOLD_": str(2**40)}


@contextmanager
def compile_setting(value):
    """Select the eager (0) or torch.compile fused (1) abc_grpo path for the duration of a call."""
    from abc_grpo_verl.algos import COMPILE_ENV

    previous = os.environ.get(COMPILE_ENV)
    os.environ[COMPILE_ENV] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[COMPILE_ENV]
        else:
            os.environ[COMPILE_ENV] = previous


def reference_passes(inputs):
    """Two reference ops timed in the same repetitions as the losses, compiled by the compiler the fused path uses.

    memory floor: one pass that reads the four inputs and writes one output of the same shape; "x memory floor" is
    how far a loss is from the cost of touching its inputs once. copy: a plain copy of one input, whose bytes moved
    per second is the bandwidth the device reaches on this size in this run.
    """
    def one_pass(old, new, adv, mask):
        return torch.where(mask, new * adv + old, 0.0)

    fused = torch.compile(one_pass, dynamic=True)
    args = (inputs["old_log_prob"], inputs["log_prob"], inputs["advantages"], inputs["response_mask"])
    target = torch.empty_like(inputs["log_prob"])
    return {"memory floor": lambda: fused(*args), "copy": lambda: target.copy_(inputs["log_prob"])}


def loss_bytes(inputs):
    """The bytes a policy loss step must move at least: read the four inputs once, write the gradient once."""
    return sum(t.numel() * t.element_size() for t in inputs.values()) + inputs["log_prob"].numel() * \
        inputs["log_prob"].element_size()


def actor_config(loss_mode, loss_agg_mode, **policy_loss):
    from verl.workers.config import ActorConfig

    from abc_grpo_verl.config import ABCPolicyLossConfig

    return ActorConfig(strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1, loss_agg_mode=loss_agg_mode,
                       policy_loss=ABCPolicyLossConfig(loss_mode=loss_mode, **policy_loss))


def make_inputs(bs, length, dtype, device, seed=0):
    """Realistic magnitudes: ratios within a few tenths of 1 (so some tokens clip), ragged response lengths."""
    gen = torch.Generator().manual_seed(seed)
    old = -torch.rand(bs, length, generator=gen) * 3
    new = old + torch.randn(bs, length, generator=gen) * 0.15
    adv = torch.randn(bs, 1, generator=gen).expand(bs, length).contiguous()
    lengths = torch.randint(length // 4, length + 1, (bs, 1), generator=gen)
    mask = torch.arange(length)[None] < lengths
    return {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)
            for k, v in {"old_log_prob": old, "log_prob": new, "advantages": adv, "response_mask": mask}.items()}


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@contextmanager
def count_host_syncs(counter):
    """Count the tensor -> host conversions a loss makes (each one is a device sync on GPU). Not counted: calls made
    by torch.compile's own machinery, whose guards (generated functions named ``guard``) call .item() on the CPU
    tensors that carry Python-number arguments (the loss's band edges) on every call, never waiting for the device."""
    names = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")
    originals = {name: getattr(torch.Tensor, name) for name in names}
    dynamo_dir = str(Path(torch.__file__).parent / "_dynamo")

    def wrap(name):
        def counted(self, *args, **kwargs):
            caller = sys._getframe(1).f_code
            if not (caller.co_name == "guard" and caller.co_filename == "<string>"
                    or caller.co_filename.startswith(dynamo_dir)):
                counter[0] += 1
            return originals[name](self, *args, **kwargs)
        return counted

    for name in names:
        setattr(torch.Tensor, name, wrap(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def rss_bytes(field):
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def fwd_bwd(loss_fn, inputs, config, loss_agg_mode):
    log_prob = inputs["log_prob"].detach().requires_grad_(True)
    loss, _ = loss_fn(old_log_prob=inputs["old_log_prob"], log_prob=log_prob, advantages=inputs["advantages"],
                      response_mask=inputs["response_mask"], loss_agg_mode=loss_agg_mode, config=config)
    loss.backward()
    return log_prob.grad


def peak_extra_bytes(loss_fn, inputs, config, loss_agg_mode, device):
    """Peak memory one forward + backward adds on top of its inputs (CPU: call it in the memory-probe child)."""
    if device.startswith("cuda"):
        sync(device)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fwd_bwd(loss_fn, inputs, config, loss_agg_mode)
        sync(device)
        return torch.cuda.max_memory_allocated() - base
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    base = rss_bytes("VmRSS")
    grad = fwd_bwd(loss_fn, inputs, config, loss_agg_mode)
    del grad
    return rss_bytes("VmHWM") - base


def bench_losses(shape, dtype_name, device, repeats, loss_agg_mode):
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    bs, length = shape
    inputs = make_inputs(bs, length, DTYPES[dtype_name], device)
    runs = [(label, get_policy_loss_fn(mode), mode, extra, compiled) for label, mode, extra, compiled in LOSSES]
    # A fresh torch.compile cache per (shape, dtype): dynamo keeps 8 graphs per function, and a process that runs
    # every dtype, width set and shape regime (verl's never does) would otherwise silently fall back to eager.
    torch._dynamo.reset()
    references = reference_passes(inputs)
    times = {label: [] for label in [*(label for label, *_ in runs), *references]}
    for _ in range(2):  # warm-up: allocator pools, lazy init, torch.compile
        for _, fn, mode, extra, compiled in runs:
            with compile_setting(compiled):
                fwd_bwd(fn, inputs, actor_config(mode, loss_agg_mode, **extra), loss_agg_mode)
        for reference in references.values():
            reference()
    for _ in range(repeats):
        for label, fn, mode, extra, compiled in runs:
            config = actor_config(mode, loss_agg_mode, **extra)  # fresh: ppo_loss-style state never leaks
            with compile_setting(compiled):
                sync(device)
                start = time.perf_counter()
                fwd_bwd(fn, inputs, config, loss_agg_mode)
                sync(device)
            times[label].append(time.perf_counter() - start)
        for label, reference in references.items():
            sync(device)
            start = time.perf_counter()
            reference()
            sync(device)
            times[label].append(time.perf_counter() - start)
    floor = statistics.median(times["memory floor"])
    copy = statistics.median(times["copy"])
    copy_bandwidth = 2 * inputs["log_prob"].numel() * inputs["log_prob"].element_size() / copy  # read + write
    peaks = peak_memory(shape, dtype_name, device, loss_agg_mode)
    rows = []
    vanilla_median = statistics.median(times["vanilla"])
    for label, fn, mode, extra, compiled in runs:
        counter = [0]
        with count_host_syncs(counter), compile_setting(compiled):
            fwd_bwd(fn, inputs, actor_config(mode, loss_agg_mode, **extra), loss_agg_mode)
        median = statistics.median(times[label])
        rows.append({
            "loss": label, "shape": f"{bs}x{length}", "dtype": dtype_name, "device": device,
            "median_ms": median * 1e3, "ratio_to_vanilla": median / vanilla_median,
            "times_floor": median / floor, "floor_ms": floor * 1e3,
            "bandwidth_share": loss_bytes(inputs) / median / copy_bandwidth, "copy_gb_per_s": copy_bandwidth / 1e9,
            "mtokens_per_s": bs * length / median / 1e6, "peak_extra_mib": peaks[label] / 2**20,
            "host_syncs": counter[0], "repeats": repeats,
        })
    return rows


def peak_memory(shape, dtype_name, device, loss_agg_mode):
    """{loss label: peak extra bytes}; on CPU from a child process with a fixed mmap threshold."""
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    if device == "cpu" and os.environ.get(MMAP_ENV) != "65536":
        command = [sys.executable, __file__, "--memory-probe", f"{shape[0]}x{shape[1]}", "--dtypes", dtype_name,
                   "--loss-agg-mode", loss_agg_mode, "--threads", str(torch.get_num_threads())]
        env = {key: value for key, value in os.environ.items() if key not in REUSE_FREED_MEMORY}
        child = subprocess.run(command, env={**env, MMAP_ENV: "65536"}, capture_output=True, text=True,
                               check=True)
        return json.loads(child.stdout.strip().splitlines()[-1])
    inputs = make_inputs(*shape, DTYPES[dtype_name], device)
    peaks = {}
    for label, mode, extra, compiled in LOSSES:
        fn = get_policy_loss_fn(mode)
        with compile_setting(compiled):
            fwd_bwd(fn, inputs, actor_config(mode, loss_agg_mode, **extra), loss_agg_mode)  # lazy init outside
            peaks[label] = peak_extra_bytes(fn, inputs, actor_config(mode, loss_agg_mode, **extra),
                                            loss_agg_mode, device)
    return peaks


def bench_actor_step(device, repeats, dtype_name):
    """A whole actor micro-step (tiny Qwen3 forward + loss + backward): the loss's share of real work."""
    from transformers import Qwen3Config, Qwen3ForCausalLM
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=4096, hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=1024)
    model = Qwen3ForCausalLM(config).to(device=device, dtype=DTYPES[dtype_name])
    bs, length = 8, 512
    ids = torch.randint(0, config.vocab_size, (bs, length + 1), device=device)
    inputs = make_inputs(bs, length, torch.float32, device, seed=1)

    def step(mode):
        logits = model(input_ids=ids[:, :-1]).logits.float()
        log_prob = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        old = (log_prob.detach() + inputs["old_log_prob"] - inputs["log_prob"])
        loss, _ = get_policy_loss_fn(mode)(old_log_prob=old, log_prob=log_prob, advantages=inputs["advantages"],
                                           response_mask=inputs["response_mask"], loss_agg_mode="token-mean",
                                           config=actor_config(mode, "token-mean"))
        loss.backward()
        model.zero_grad(set_to_none=True)

    times = {"vanilla": [], "abc_grpo": []}
    for mode in times:  # warm-up
        step(mode)
    for _ in range(repeats):
        for mode, samples in times.items():
            sync(device)
            start = time.perf_counter()
            step(mode)
            sync(device)
            samples.append(time.perf_counter() - start)
    medians = {mode: statistics.median(t) for mode, t in times.items()}
    return {"shape": f"{bs}x{length}", "dtype": dtype_name, "device": device, "repeats": repeats,
            "vanilla_ms": medians["vanilla"] * 1e3, "abc_grpo_ms": medians["abc_grpo"] * 1e3,
            "ratio": medians["abc_grpo"] / medians["vanilla"]}


def markdown(result):
    allocator = f", CPU allocator: {result['cpu_allocator']}" if result.get("cpu_allocator") else ""
    setup = (f"torch {result['torch']}, verl {result['verl']}, device {result['device']}, {result['threads']} threads, "
             f"loss_agg_mode {result['loss_agg_mode']}, median of {result['repeats']} interleaved repetitions"
             f"{allocator}.")
    lines = [f"# Policy-loss benchmark ({result['machine']})", "", setup, "",
             ("| shape | dtype | loss | median ms | ratio to vanilla | x memory floor | % of copy bandwidth | "
              "M tokens/s | peak extra MiB | host syncs |"),
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["losses"]:
        lines.append(f"| {r['shape']} | {r['dtype']} | {r['loss']} | {r['median_ms']:.2f} | "
                     f"{r['ratio_to_vanilla']:.2f} | {r['times_floor']:.1f} | {100 * r['bandwidth_share']:.1f} | "
                     f"{r['mtokens_per_s']:.1f} | {r['peak_extra_mib']:.0f} | {r['host_syncs']} |")
    references = {(r["shape"], r["dtype"]): (r["floor_ms"], r["copy_gb_per_s"]) for r in result["losses"]}
    timed = ", ".join(f"{shape} {dtype} {ms:.2f} ms, {gbs:.1f} GB/s"
                      for (shape, dtype), (ms, gbs) in references.items())
    lines += ["", ("Memory floor (one fused pass reading the four inputs, writing one output) and copy bandwidth "
                   f"(a plain copy of one input), timed in the same repetitions: {timed}."),
              "", ("% of copy bandwidth: the bytes a loss must move (its four inputs read once, the gradient written "
                   "once) per second, over the copy's bytes per second.")]
    if result.get("actor_step"):
        a = result["actor_step"]
        lines += ["", "Actor micro-step (tiny Qwen3, forward + loss + backward):", "",
                  "| shape | dtype | vanilla ms | abc_grpo ms | ratio |", "|---|---|---:|---:|---:|",
                  (f"| {a['shape']} | {a['dtype']} | {a['vanilla_ms']:.1f} | {a['abc_grpo_ms']:.1f} | "
                   f"{a['ratio']:.3f} |")]
    return "\n".join(lines) + "\n"


def parse_shapes(text):
    try:
        return [tuple(int(n) for n in item.lower().split("x")) for item in text.split(",")]
    except ValueError:
        raise SystemExit(
            f"--shapes={text!r} is invalid: expected BATCHxLENGTH[,BATCHxLENGTH...], e.g. 256x4096"
        ) from None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="256x4096", help="BATCHxLENGTH list (default: 256x4096)")
    parser.add_argument("--dtypes", default="fp32,bf16", help=f"subset of {sorted(DTYPES)} (default: fp32,bf16)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved repetitions per loss (default: 9)")
    parser.add_argument("--loss-agg-mode", default="token-mean")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice; 1 is steadier on a loaded machine)")
    parser.add_argument("--actor-step", action=argparse.BooleanOptionalAction, default=True,
                        help="also time a whole tiny-Qwen3 actor micro-step (default: on)")
    parser.add_argument("--out", default="bench/results", help="output folder (default: bench/results)")
    parser.add_argument("--cpu-allocator", choices=("reuse", "default"), default="reuse",
                        help="CPU timing: 'reuse' keeps freed memory in the process (as CUDA's caching allocator "
                             "does), 'default' is plain glibc, where every large allocation page-faults "
                             "(default: reuse)")
    parser.add_argument("--memory-probe", metavar="SHAPE", help=argparse.SUPPRESS)  # internal: the CPU memory child
    args = parser.parse_args()
    timing_env = {**os.environ, **REUSE_FREED_MEMORY}
    if args.device == "cpu" and args.cpu_allocator == "reuse" and not args.memory_probe and os.environ != timing_env:
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], timing_env)  # glibc reads them at start
    dtypes = args.dtypes.split(",")
    unknown = sorted(set(dtypes) - set(DTYPES))
    if unknown:
        raise SystemExit(f"--dtypes={args.dtypes!r} is invalid: {unknown} not in {sorted(DTYPES)}")
    if args.repeats < 3:
        raise SystemExit(f"--repeats={args.repeats} is invalid: need >= 3 for a median")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device=cuda but torch.cuda.is_available() is False")
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"--threads={args.threads} is invalid: need >= 1")
        torch.set_num_threads(args.threads)

    import verl

    import abc_grpo_verl.algos  # noqa: F401  (registers abc_grpo even with the entry point disabled)

    if args.memory_probe:
        print(json.dumps(peak_memory(parse_shapes(args.memory_probe)[0], dtypes[0], "cpu", args.loss_agg_mode)))
        return
    rows = []
    for shape in parse_shapes(args.shapes):
        for dtype_name in dtypes:
            print(f"benchmarking {shape[0]}x{shape[1]} {dtype_name} on {args.device} ...", flush=True)
            rows += bench_losses(shape, dtype_name, args.device, args.repeats, args.loss_agg_mode)
    machine = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    result = {"machine": f"{machine}, {os.cpu_count()} cores", "torch": torch.__version__, "verl": verl.__version__,
              "device": args.device, "threads": torch.get_num_threads(), "repeats": args.repeats,
              "cpu_allocator": args.cpu_allocator if args.device == "cpu" else None,
              "loss_agg_mode": args.loss_agg_mode, "losses": rows,
              "actor_step": bench_actor_step(args.device, args.repeats, dtypes[0]) if args.actor_step else None}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"loss_{args.device.split(':')[0]}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / stem}.json and .md")


if __name__ == "__main__":
    main()
