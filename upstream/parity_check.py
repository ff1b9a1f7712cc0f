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

    python upstream/parity_check.py --patched-tree <a verl tree (0.9.1 sdist or main) with upstream/patches applied>

The driver writes the inputs to disk, then runs the same cases in three fresh processes, each of which saves its
numbers to disk:

    upstream          the patched tree's core_algos (PYTHONPATH=<tree>, VERL_USE_EXTERNAL_PLUGINS=none, so the
                      plugin is never imported), configured through verl's own PolicyLossConfig
    plugin            the plugin on the installed, unpatched verl, configured through ABCPolicyLossConfig
    plugin-on-patched the plugin loaded by the verl.plugins entry point into the patched tree: it must replace
                      upstream's registration and read the widths from upstream's PolicyLossConfig fields

Each process checks where `verl` and `abc_grpo_verl` came from before computing anything. The driver then
requires the three to agree on the loss value, the gradient w.r.t. log_prob (and its zero pattern) and every
metric the plugin returns, within the documented TOLERANCES, and counts how many agree bit for bit. The plugin
runs eagerly (ABC_GRPO_COMPILE=0): the compiled path is the same code, checked against eager by the plugin's tests.

A few cases are input the plugin refuses and upstream does not validate, like verl's other losses (shapes that
broadcast, a mask that is not 0/1; see upstream/README.md): there the plugin must raise ValueError and upstream
must return a loss.
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


# Input the plugin refuses with a ValueError and upstream takes as verl's vanilla would (no validation upstream).
REFUSED = {
    "advantages of shape (L,)": ("advantages", lambda x: x[3]),
    "old_log_prob of shape (1, L)": ("old_log_prob", lambda x: x[:1]),
    "a mask holding 2": ("response_mask", lambda m: m.float().masked_fill(m, 2.0)),
    "a mask holding -1": ("response_mask", lambda m: m.float().masked_fill(m, -1.0)),
    "a mask holding 0.5": ("response_mask", lambda m: m.float().masked_fill(m, 0.5)),
}


def make_inputs(seed: int, dtype: torch.dtype, mask_kind: str, padding: float | None = None) -> dict:
    """Log-probs whose ratios straddle every band edge, advantages of both signs and zero, a ragged mask.

    `padding` fills every input (log-probs, advantages, weights) at the masked positions; None leaves the random
    values there.
    """
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
    inputs = {"old_log_prob": old, "log_prob": log_prob, "advantages": advantages, "weights": weights}
    if padding is not None:
        inputs = {name: value.masked_fill(~mask, padding) for name, value in inputs.items()}
    inputs = {name: value.to(dtype) for name, value in inputs.items()}
    inputs["response_mask"] = mask.float() if mask_kind == "float" else mask
    if mask_kind in REFUSED:
        name, change = REFUSED[mask_kind]
        inputs[name] = change(inputs[name])
    return inputs


def make_cases() -> list[dict]:
    cases = []

    def add(**case):
        case = dict(dict(widths=WIDTHS[1], ratio_level="token", use_weights=True, global_info="none",
                         dtype=torch.float32, mask_kind="bool", padding=None), **case)
        cases.append(dict(case, seed=len(cases)))

    dtypes = (torch.float32, torch.float64, torch.bfloat16)
    for widths, ratio_level, mode, use_weights, info, dtype in itertools.product(
        WIDTHS, ("token", "sequence"), AGG_MODES, (False, True), GLOBAL_INFO, dtypes
    ):
        add(widths=widths, ratio_level=ratio_level, mode=mode, use_weights=use_weights, global_info=info, dtype=dtype)
    # nan/inf padding in every input (selected away, never reaching loss, gradient or ppo_kl)
    for widths, ratio_level, mode, padding in itertools.product(
        WIDTHS, ("token", "sequence"), AGG_MODES, (math.nan, math.inf, -math.inf)
    ):
        add(widths=widths, ratio_level=ratio_level, mode=mode, padding=padding)
    # fp16 inputs (computed in fp32), with nan padding too
    for widths, ratio_level, mode in itertools.product(WIDTHS, ("token", "sequence"), AGG_MODES):
        add(widths=widths, ratio_level=ratio_level, mode=mode, dtype=torch.float16, padding=math.nan)
    # a fully masked micro-batch: whatever agg_loss gives (nan for 0/0 without global batch info, as vanilla)
    for ratio_level, mode, info in itertools.product(("token", "sequence"), AGG_MODES, GLOBAL_INFO):
        add(ratio_level=ratio_level, mode=mode, global_info=info, mask_kind="empty", padding=math.nan)
    for mode in AGG_MODES:
        add(mode=mode, mask_kind="float")
    for kind in REFUSED:
        add(mode="token-mean", mask_kind=kind)
    for case in cases:
        case["inputs"] = make_inputs(case["seed"], case["dtype"], case["mask_kind"], case["padding"])
    return cases


def check_origin(impl: str, tree: Path) -> dict:
    """Fail unless verl and the plugin come from where this implementation must take them."""
    import verl
    from verl.trainer.ppo import core_algos

    verl_file = Path(verl.__file__).resolve()
    in_tree = tree in verl_file.parents
    origin = {"verl": str(verl_file), "version": verl.__version__, "plugin_imported": "abc_grpo_verl" in sys.modules}
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
        try:
            loss, metrics = loss_fn(
                old_log_prob=data["old_log_prob"], log_prob=log_prob, advantages=data["advantages"],
                response_mask=data["response_mask"], loss_agg_mode=case["mode"], config=config,
                rollout_is_weights=data["weights"] if case["use_weights"] else None,
            )
        except ValueError as error:
            if case["mask_kind"] not in REFUSED:
                raise
            results.append({"refused": str(error)})
            continue
        loss.backward()
        # the plugin's own diagnostics, not metrics of the upstream loss: log-probs above 0 (which it warns about)
        # and the band it clips at (from the config, for the report)
        plugin_only = [key for key in metrics
                       if key == "actor/abc_positive_log_probs" or key.startswith("actor/abc_band_")]
        for key in plugin_only:
            metrics.pop(key)
        results.append({"loss": loss.detach(), "grad": log_prob.grad, "metrics": metrics})
    torch.save({"origin": origin, "results": results}, out_path)


def describe(case: dict) -> str:
    return (f"widths={case['widths']} ratio_level={case['ratio_level']} mode={case['mode']} "
            f"weights={case['use_weights']} info={case['global_info']} dtype={case['dtype']} mask={case['mask_kind']} "
            f"padding={case['padding']}")


# |a - b| <= atol + rtol * |b|, by quantity and result dtype. The implementations run the same torch operations in
# the same order, so they agree bit for bit today; the tolerances leave room for a future reordering of the same
# factors (a product of weight, coefficient, -A and ratio taken in another order), which costs a few ulp. The loss is
# a sum of terms of both signs, so such ulps of the terms can be a larger share of the sum: it gets an absolute floor
# far below what one misclipped token changes (~1e-3 here). A bf16/fp16 gradient is rounded from fp32 last, so one
# fp32 ulp can flip one rounding step. A real divergence (a token clipped by one and not the other) also changes the
# zero-gradient pattern, which must match exactly. Token counts must match exactly, other metrics to METRIC_RTOL.
TOLERANCES = {
    "loss": {torch.float32: (2e-6, 1e-7), torch.float64: (1e-13, 1e-15)},
    "grad": {torch.float32: (2e-6, 1e-12), torch.float64: (1e-13, 1e-30), torch.bfloat16: (1.6e-2, 1e-8),
             torch.float16: (2e-3, 1e-8)},
}
METRIC_RTOL = 1e-6
COUNT_METRICS = ("actor/abc_clip_tokens_q1", "actor/abc_clip_tokens_q2", "actor/abc_clip_tokens_q3",
                 "actor/abc_clip_tokens_q4", "actor/abc_valid_tokens")


def identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, nan where the other has nan."""
    nan = torch.isnan(a)
    return torch.equal(nan, torch.isnan(b)) and torch.equal(a[~nan], b[~nan])


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


def compare_metrics(got: dict, ref: dict) -> list[str]:
    if got.keys() != ref.keys():
        return [f"metric keys {sorted(got)} vs {sorted(ref)}"]
    problems = []
    for name, value in ref.items():
        exact = name in COUNT_METRICS
        if not (math.isfinite(value) and math.isfinite(got[name])):
            problems.append(f"{name} is not finite: {got[name]!r} vs {value!r}")
        elif (got[name] != value) if exact else abs(got[name] - value) > METRIC_RTOL * max(abs(value), 1e-12):
            problems.append(f"{name} {got[name]!r} vs {value!r}")
    return problems


def compare(cases: list[dict], runs: dict) -> tuple[list[str], dict]:
    """Every implementation against `upstream`: tolerance checks, identical zero-gradient tokens, and statistics."""
    mismatches = []
    stats = {impl: {"compared": 0, "loss_bitwise": 0, "grad_bitwise": 0, "metrics_bitwise": 0, "refused": 0,
                    "worst_gap": {}} for impl in IMPLS[1:]}
    reference = runs["upstream"]["results"]
    for impl in IMPLS[1:]:
        tally = stats[impl]
        for case, ref, got in zip(cases, reference, runs[impl]["results"], strict=True):
            problems = []
            if case["mask_kind"] in REFUSED:
                # the plugin's input validation; upstream computes a loss, as verl's other losses do
                if "refused" not in got:
                    problems.append("the plugin did not refuse this input")
                elif "loss" not in ref:
                    problems.append(f"upstream refused it too: {ref['refused']}")
                else:
                    tally["refused"] += 1
                if problems:
                    mismatches.append(f"{impl} vs upstream [{describe(case)}]: " + "; ".join(problems))
                continue
            tally["compared"] += 1
            for key in ("loss", "grad"):
                a, b = got[key], ref[key]
                if a.dtype != b.dtype or a.shape != b.shape:
                    problems.append(f"{key} dtype/shape {a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)}")
                    continue
                if identical(a, b):
                    tally[f"{key}_bitwise"] += 1
                else:
                    ok, worst = gap_over_tolerance(key, a, b)
                    name = f"{key} {str(a.dtype).replace('torch.', '')}"
                    tally["worst_gap"][name] = max(tally["worst_gap"].get(name, 0.0), worst)
                    if not ok:
                        problems.append(f"{key} differs by up to {(a.double() - b.double()).abs().max().item():.3g}")
                if key == "grad":
                    if not torch.isfinite(a).all():
                        problems.append("the gradient is not finite")
                    if not torch.equal(a == 0, b == 0):
                        problems.append("the tokens with zero gradient differ")
            if got["metrics"] == ref["metrics"]:
                tally["metrics_bitwise"] += 1
            problems += compare_metrics(got["metrics"], ref["metrics"])
            if problems:
                mismatches.append(f"{impl} vs upstream [{describe(case)}]: " + "; ".join(problems))
    return mismatches, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patched-tree", type=Path, required=True, help="a verl source tree with the patches applied")
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
    base_env["ABC_GRPO_COMPILE"] = "0"
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
    metric_names = sorted(next(result["metrics"] for result in runs["plugin"]["results"] if "metrics" in result))
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
        print(f"parity: {impl:<17} verl {origin['version']} from {origin['verl']}{plugin}")
    for impl, tally in stats.items():
        gaps = ", ".join(f"{name} {gap:.2g}" for name, gap in sorted(tally["worst_gap"].items())) or "none"
        n = tally["compared"]
        print(f"parity: {impl} vs upstream: bit-identical loss {tally['loss_bitwise']}/{n}, gradient "
              f"{tally['grad_bitwise']}/{n}, metrics {tally['metrics_bitwise']}/{n}; largest gap of the others, in "
              f"units of the tolerance: {gaps}; input refused by the plugin only: {tally['refused']}/{len(REFUSED)}")
    if mismatches:
        per_impl = ", ".join(f"{impl} {sum(m.startswith(impl + ' vs') for m in mismatches)}" for impl in IMPLS[1:])
        print(f"parity: FAILED, cases that differ from upstream, of {len(cases)}: {per_impl}; first ones:")
        print("\n".join(mismatches[:10]))
        return 1
    print(f"parity: OK, {len(cases)} cases x {len(IMPLS)} implementations agree on the loss, the gradient (with the "
          f"same zero-gradient tokens) and the {len(metric_names)} metrics, within the tolerances of parity_check.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
