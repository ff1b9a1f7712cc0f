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
"""Parity of the patched verl's `abc_grpo` with the plugin's: loss, gradient and metrics on random inputs.

    python upstream/parity_check.py --patched-tree <verl-0.9.1 with upstream/patches applied>

The driver writes the inputs to disk, then runs the same cases in three fresh processes, each of which saves its
numbers to disk:

    upstream          the patched tree's core_algos (PYTHONPATH=<tree>, VERL_USE_EXTERNAL_PLUGINS=none, so the
                      plugin is never imported), configured through verl's own PolicyLossConfig
    plugin            the plugin on the installed, unpatched verl 0.9.1, configured through ABCPolicyLossConfig
    plugin-on-patched the plugin loaded by the verl.plugins entry point into the patched tree: it must replace
                      upstream's registration and read the widths from upstream's PolicyLossConfig fields

Each process checks where `verl` and `abc_grpo_verl` came from before computing anything. The driver then
requires the three to agree bit for bit: loss value, gradient w.r.t. log_prob, and every metric.
"""

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
IMPLS = ("upstream", "plugin", "plugin-on-patched")
AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
# (clip_pos_high, clip_pos_low, clip_neg_high, clip_neg_low); None falls back to the actor's clip ratios.
WIDTHS = (
    (0.2, 0.2, 0.2, 0.2),  # the paper's setting
    (0.28, 0.1, 0.35, 0.3),  # four different widths
    (math.inf, 1.0, 0.2, 0.2),  # open sides
    (0.28, 1.0, 2.0, 0.2),  # vanilla dual-clip's tuple
    (None, None, None, None),  # defaults from clip_ratio_low = 0.15, clip_ratio_high = 0.25
)
GLOBAL_INFO = {
    "none": {},
    "global": {"dp_size": 1, "batch_num_tokens": 50, "global_batch_size": 9, "loss_scale_factor": 7},
    "dp2": {"dp_size": 2, "batch_num_tokens": 90, "global_batch_size": 14, "loss_scale_factor": 7},
}


def make_inputs(seed: int, dtype: torch.dtype, mask_kind: str) -> dict:
    """Log-probs whose ratios straddle every band edge, advantages of both signs and zero, a ragged mask."""
    gen = torch.Generator().manual_seed(seed)
    bs, length = 6, 12
    old = -torch.rand(bs, length, generator=gen, dtype=torch.float64) * 3
    log_prob = old + torch.randn(bs, length, generator=gen, dtype=torch.float64) * 0.6
    advantages = torch.randn(bs, 1, generator=gen, dtype=torch.float64).expand(bs, length).clone()
    advantages[0] = 0.0
    advantages[1] = torch.randn(length, generator=gen, dtype=torch.float64)  # token-level advantages too
    lengths = torch.randint(1, length + 1, (bs,), generator=gen)
    mask = torch.arange(length)[None, :] < lengths[:, None]
    mask[2] = False  # a fully masked response
    if mask_kind == "empty":
        mask[:] = False
    weights = torch.rand(bs, length, generator=gen, dtype=torch.float64) + 0.5
    return {
        "old_log_prob": old.to(dtype),
        "log_prob": log_prob.to(dtype),
        "advantages": advantages.to(dtype),
        "response_mask": mask.float() if mask_kind == "float" else mask,
        "weights": weights.to(dtype),
    }


def make_cases() -> list[dict]:
    cases = []
    dtypes = (torch.float32, torch.float64, torch.bfloat16)
    for widths, ratio_level, mode, use_weights, info, dtype in itertools.product(
        WIDTHS, ("token", "sequence"), AGG_MODES, (False, True), GLOBAL_INFO, dtypes
    ):
        cases.append(dict(widths=widths, ratio_level=ratio_level, mode=mode, use_weights=use_weights,
                          global_info=info, dtype=dtype, mask_kind="bool", seed=len(cases)))
    for mode, mask_kind in itertools.product(AGG_MODES, ("float", "empty")):
        cases.append(dict(widths=WIDTHS[1], ratio_level="token", mode=mode, use_weights=True, global_info="none",
                          dtype=torch.float32, mask_kind=mask_kind, seed=len(cases)))
    for case in cases:
        case["inputs"] = make_inputs(case["seed"], case["dtype"], case["mask_kind"])
    return cases


def check_origin(impl: str, tree: Path) -> dict:
    """Fail unless verl and the plugin come from where this implementation must take them."""
    import verl
    from verl.trainer.ppo import core_algos

    verl_file = Path(verl.__file__).resolve()
    in_tree = tree in verl_file.parents
    origin = {"verl": str(verl_file), "plugin_imported": "abc_grpo_verl" in sys.modules}
    if impl == "upstream":
        assert in_tree, f"upstream run imported verl from {verl_file}, not from the patched tree {tree}"
        assert not origin["plugin_imported"], "upstream run imported abc_grpo_verl: the plugin would shadow upstream"
        fn = core_algos.get_policy_loss_fn("abc_grpo")
        assert fn is core_algos.compute_policy_loss_abc_grpo and fn.__module__ == "verl.trainer.ppo.core_algos"
    elif impl == "plugin":
        assert not in_tree, f"plugin run imported verl from the patched tree ({verl_file})"
        assert not hasattr(core_algos, "compute_policy_loss_abc_grpo"), "the installed verl already has abc_grpo"
        import abc_grpo_verl.algos  # noqa: F401  (the entry point may be off in the caller's environment)
    else:
        assert in_tree, f"plugin-on-patched run imported verl from {verl_file}, not from the patched tree {tree}"
        # the entry point alone (VERL_USE_EXTERNAL_PLUGINS unset) must have loaded the plugin over upstream's loss
        assert origin["plugin_imported"], "the verl.plugins entry point did not load abc_grpo_verl"
        import abc_grpo_verl.algos as algos

        assert hasattr(core_algos, "compute_policy_loss_abc_grpo"), "the patched tree has no upstream abc_grpo"
        assert core_algos.get_policy_loss_fn("abc_grpo") is algos.compute_policy_loss_abc_grpo, "upstream's loss won"
        assert core_algos.get_adv_estimator_fn("abc_grpo") is algos.compute_abc_grpo_outcome_advantage
    if impl != "upstream":
        origin["plugin"] = str(Path(sys.modules["abc_grpo_verl"].__file__).resolve())
    return origin


def run_worker(impl: str, tree: Path, inputs_path: Path, out_path: Path) -> None:
    origin = check_origin(impl, tree)
    from verl.trainer.ppo import core_algos
    from verl.workers.config import ActorConfig, PolicyLossConfig

    if impl == "plugin":
        from abc_grpo_verl.config import ABCPolicyLossConfig as LossConfig
    else:
        LossConfig = PolicyLossConfig  # upstream's fields; the plugin must read them too
    loss_fn = core_algos.get_policy_loss_fn("abc_grpo")

    results = []
    for case in torch.load(inputs_path, weights_only=False):
        widths = dict(zip(("clip_pos_high", "clip_pos_low", "clip_neg_high", "clip_neg_low"), case["widths"],
                          strict=True))
        config = ActorConfig(
            strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1, loss_agg_mode=case["mode"],
            clip_ratio_low=0.15, clip_ratio_high=0.25, clip_ratio_c=3.0,
            policy_loss=LossConfig(loss_mode="abc_grpo", ratio_level=case["ratio_level"], **widths),
        )
        config.global_batch_info.update(GLOBAL_INFO[case["global_info"]])
        data = case["inputs"]
        log_prob = data["log_prob"].clone().requires_grad_(True)
        loss, metrics = loss_fn(
            old_log_prob=data["old_log_prob"], log_prob=log_prob, advantages=data["advantages"],
            response_mask=data["response_mask"], loss_agg_mode=case["mode"], config=config,
            rollout_is_weights=data["weights"] if case["use_weights"] else None,
        )
        loss.backward()
        results.append({"loss": loss.detach(), "grad": log_prob.grad, "metrics": metrics})
    torch.save({"origin": origin, "results": results}, out_path)


def describe(case: dict) -> str:
    return (f"widths={case['widths']} ratio_level={case['ratio_level']} mode={case['mode']} "
            f"weights={case['use_weights']} info={case['global_info']} dtype={case['dtype']} mask={case['mask_kind']}")


# |a - b| <= atol + rtol * |b|, by quantity and result dtype. The implementations may round differently in the last
# bits: a product of (weight, coefficient, -A, ratio) taken in another order (a hand-written backward), or a sequence
# log-ratio carried through log_prob and back, which costs an ulp of |log_prob|. The loss is a sum of terms of both
# signs, so such ulps of the terms can be a larger share of the sum: it gets an absolute floor far below what one
# misclipped token changes (~1e-3 here). A bf16 gradient is rounded from fp32 last, so one fp32 ulp can flip one bf16
# rounding step. A real divergence (a token clipped by one and not the other) also changes the zero-gradient pattern,
# which must match exactly.
TOLERANCES = {
    "loss": {torch.float32: (2e-6, 1e-7), torch.float64: (1e-13, 1e-15)},
    "grad": {torch.float32: (2e-6, 1e-12), torch.float64: (1e-13, 1e-30), torch.bfloat16: (1.6e-2, 1e-8)},
}
METRIC_RTOL = 1e-6


def gap_over_tolerance(key: str, a: torch.Tensor, b: torch.Tensor) -> tuple[bool, float]:
    """(within tolerance, largest |a - b| / (atol + rtol |b|)); NaN positions must match."""
    rtol, atol = TOLERANCES[key][a.dtype]
    a, b = a.double(), b.double()
    nan = torch.isnan(a)
    if not torch.equal(nan, torch.isnan(b)):
        return False, math.inf
    ratio = ((a - b).abs() / (atol + rtol * b.abs()))[~nan]
    worst = ratio.max().item() if ratio.numel() else 0.0
    return worst <= 1.0, worst


def compare(cases: list[dict], runs: dict) -> tuple[list[str], dict]:
    """Every implementation against `upstream`: tolerance checks, identical zero-gradient tokens, and statistics."""
    mismatches = []
    stats = {impl: {"loss_bitwise": 0, "grad_bitwise": 0, "metrics_bitwise": 0, "worst_gap": {}} for impl in IMPLS[1:]}
    reference = runs["upstream"]["results"]
    for impl in IMPLS[1:]:
        tally = stats[impl]
        for case, ref, got in zip(cases, reference, runs[impl]["results"], strict=True):
            problems = []
            for key in ("loss", "grad"):
                a, b = got[key], ref[key]
                if a.dtype != b.dtype or a.shape != b.shape:
                    problems.append(f"{key} dtype/shape {a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)}")
                    continue
                if torch.equal(a, b):
                    tally[f"{key}_bitwise"] += 1
                    continue
                ok, worst = gap_over_tolerance(key, a, b)
                name = f"{key} {str(a.dtype).replace('torch.', '')}"
                tally["worst_gap"][name] = max(tally["worst_gap"].get(name, 0.0), worst)
                if not ok:
                    problems.append(f"{key} differs by up to {(a.double() - b.double()).abs().max().item():.3g}")
                if key == "grad" and not torch.equal(a == 0, b == 0):
                    problems.append("the tokens with zero gradient differ")
            if got["metrics"].keys() != ref["metrics"].keys():
                problems.append(f"metric keys {sorted(got['metrics'])} vs {sorted(ref['metrics'])}")
            elif got["metrics"] == ref["metrics"]:
                tally["metrics_bitwise"] += 1
            else:
                for name, value in ref["metrics"].items():
                    if abs(got["metrics"][name] - value) > METRIC_RTOL * max(abs(value), 1e-12):
                        problems.append(f"{name} {got['metrics'][name]!r} vs {value!r}")
            if problems:
                mismatches.append(f"{impl} vs upstream [{describe(case)}]: " + "; ".join(problems))
    return mismatches, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patched-tree", type=Path, required=True, help="verl 0.9.1 sdist root with the patches")
    parser.add_argument("--out", type=Path, help="directory for inputs, per-implementation results and summary")
    parser.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    tree = args.patched_tree.resolve()

    if args.worker:
        run_worker(args.worker, tree, args.inputs, args.result)
        return 0

    out = args.out or Path(tempfile.mkdtemp(prefix="abc-parity."))
    out.mkdir(parents=True, exist_ok=True)
    cases = make_cases()
    inputs_path = out / "inputs.pt"
    torch.save(cases, inputs_path)

    base_env = {k: v for k, v in os.environ.items()
                if k not in ("PYTHONPATH", "VERL_USE_EXTERNAL_PLUGINS", "VERL_USE_EXTERNAL_MODULES")}
    envs = {
        "upstream": {**base_env, "PYTHONPATH": str(tree), "VERL_USE_EXTERNAL_PLUGINS": "none"},
        "plugin": {**base_env, "PYTHONPATH": str(REPO)},
        "plugin-on-patched": {**base_env, "PYTHONPATH": os.pathsep.join([str(tree), str(REPO)])},
    }
    procs = {}
    for impl in IMPLS:
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", impl, "--patched-tree", str(tree),
                   "--inputs", str(inputs_path), "--result", str(out / f"{impl}.pt")]
        # cwd outside both trees, so neither the repo nor the sdist is importable by accident
        procs[impl] = subprocess.Popen(command, env=envs[impl], cwd=out, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
    failed = False
    for impl, proc in procs.items():
        log, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failed = True
            print(f"parity: the {impl} process failed (rc={proc.returncode}):\n{log[-4000:]}")
    if failed:
        return 1

    runs = {impl: torch.load(out / f"{impl}.pt", weights_only=False) for impl in IMPLS}
    mismatches, stats = compare(cases, runs)
    metric_names = sorted(runs["upstream"]["results"][0]["metrics"])
    summary = {
        "cases": len(cases),
        "implementations": {impl: runs[impl]["origin"] for impl in IMPLS},
        "tolerances": {key: {str(dtype): {"rtol": r, "atol": a} for dtype, (r, a) in table.items()}
                       for key, table in TOLERANCES.items()},
        "metric_rtol": METRIC_RTOL,
        "metric_names": metric_names,
        "comparisons": stats,
        "mismatches": mismatches,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for impl in IMPLS:
        origin = runs[impl]["origin"]
        plugin = f" plugin={origin['plugin']}" if "plugin" in origin else ""
        print(f"parity: {impl:<17} verl={origin['verl']}{plugin}")
    n = len(cases)
    for impl, tally in stats.items():
        gaps = ", ".join(f"{name} {gap:.2g}" for name, gap in sorted(tally["worst_gap"].items())) or "none"
        print(f"parity: {impl} vs upstream: bit-identical loss {tally['loss_bitwise']}/{n}, gradient "
              f"{tally['grad_bitwise']}/{n}, metrics {tally['metrics_bitwise']}/{n}; "
              f"largest gap of the others, in units of the tolerance: {gaps}")
    if mismatches:
        print(f"parity: FAILED, {len(mismatches)} mismatches over {n} cases; first ones:")
        print("\n".join(mismatches[:10]))
        return 1
    print(f"parity: OK, {n} cases x {len(IMPLS)} implementations agree on the loss, the gradient (with the same "
          f"zero-gradient tokens) and the {len(metric_names)} metrics, within the tolerances of parity_check.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
