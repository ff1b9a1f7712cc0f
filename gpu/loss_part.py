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
"""Loss part: the registered losses through verl's `get_policy_loss_fn`, timed by bench/bench_loss.py.

First the compiled path against eager (`ABC_GRPO_COMPILE=1` vs `0`) on fresh random inputs per dtype: loss, gradient
and every metric, and whether torch.compile really ran (a compiler failure makes the plugin warn and run eager,
which would make the comparison vacuous). Then, per (shape, dtype), `bench_loss.bench_losses`: every loss of that
benchmark (abc_grpo eager and fused, vanilla, gspo, cispo, ...) forward + backward on the same inputs, interleaved,
with the median time, ratio to vanilla, peak extra memory and the share of the copy bandwidth measured in the same
repetitions. Results are saved after each step, so a part stopped at its time budget keeps what it finished.
"""

import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_loss  # noqa: E402

# Relative-error bounds of the compiled path against eager: fp32 arithmetic in both; bf16 inputs and gradients carry
# 8 significant bits, so one rounding step apart is 2**-8 = 0.4% relative.
TOLERANCE = {"fp32": 1e-5, "bf16": 1e-2}


def _relative_error(a, b) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _loss_grad_metrics(inputs, loss_agg_mode):
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    log_prob = inputs["log_prob"].detach().requires_grad_(True)
    loss, metrics = get_policy_loss_fn("abc_grpo")(
        old_log_prob=inputs["old_log_prob"], log_prob=log_prob, advantages=inputs["advantages"],
        response_mask=inputs["response_mask"], loss_agg_mode=loss_agg_mode,
        config=bench_loss.actor_config("abc_grpo", loss_agg_mode))
    loss.backward()
    return loss.detach(), log_prob.grad, metrics


def compiled_vs_eager(shape, dtype_name, device, loss_agg_mode):
    from torch._dynamo.utils import counters

    from abc_grpo_verl.algos import COMPILE_ENV

    inputs = bench_loss.make_inputs(*shape, bench_loss.DTYPES[dtype_name], device, seed=1234)
    with bench_loss.compile_setting("0"):
        eager = _loss_grad_metrics(inputs, loss_agg_mode)
    graphs_before = counters["stats"]["unique_graphs"]
    with bench_loss.compile_setting("1"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fused = _loss_grad_metrics(inputs, loss_agg_mode)
    compiled = counters["stats"]["unique_graphs"] > graphs_before
    # the plugin warns, naming its switch, when it falls back to eager
    compile_warnings = [str(w.message) for w in caught if COMPILE_ENV in str(w.message)]
    metric_errors = {key: abs(fused[2][key] - value) / max(abs(value), 1e-12) for key, value in eager[2].items()}
    errors = {"loss": _relative_error(fused[0], eager[0]), "grad": _relative_error(fused[1], eager[1]),
              "metrics (max)": max(metric_errors.values())}
    finite = bool(torch.isfinite(fused[1]).all() and torch.isfinite(fused[0]))
    return {"shape": f"{shape[0]}x{shape[1]}", "dtype": dtype_name, "compiled": compiled,
            "compile_warnings": compile_warnings, "relative_error": errors, "tolerance": TOLERANCE[dtype_name],
            "equal": compiled and finite and all(e <= TOLERANCE[dtype_name] for e in errors.values()),
            "clipped_share": float(eager[2]["actor/pg_clipfrac"])}


def run(settings, result):
    device = settings["device"]
    s = settings["loss"]
    if device == "cuda" and not torch.cuda.is_available():
        return result.skip("--device cuda, but torch.cuda.is_available() is False")
    import abc_grpo_verl.algos  # noqa: F401  (registers abc_grpo even with the entry point disabled)

    shapes = bench_loss.parse_shapes(",".join(s["shapes"]))
    equality_shape = bench_loss.parse_shapes(s["equality_shape"])[0]
    result.data.update(equality=[], rows=[])
    for dtype_name in s["dtypes"]:
        result.data["equality"].append(compiled_vs_eager(equality_shape, dtype_name, device, s["loss_agg_mode"]))
        result.save()
    for shape in shapes:
        for dtype_name in s["dtypes"]:
            result.data["rows"] += bench_loss.bench_losses(shape, dtype_name, device, s["repeats"],
                                                           s["loss_agg_mode"])
            result.save()
    failed = [f"{e['shape']} {e['dtype']}" for e in result.data["equality"] if not e["equal"]]
    if failed:
        result.fail(f"compiled path differs from eager or did not compile: {', '.join(failed)}")
