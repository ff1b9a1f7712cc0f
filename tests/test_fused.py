"""ABC_GRPO_COMPILE=1: the torch.compile fused step equals the eager one, and falls back to eager cleanly."""

import re
import warnings

import pytest
import torch
from verl.trainer.ppo import core_algos

from abc_grpo_verl import algos
from abc_grpo_verl.algos import COMPILE_ENV, compute_policy_loss_abc_grpo
from tests.support import make_actor_config, random_batch


def run(batch, mode, dtype, widths=None, ratio_level="token", weights=False):
    config = make_actor_config(loss_agg_mode=mode, ratio_level=ratio_level, **(widths or {}))
    log_prob = batch["log_prob"].to(dtype).requires_grad_(True)
    loss, metrics = compute_policy_loss_abc_grpo(
        batch["old_log_prob"].to(dtype), log_prob, batch["advantages"].to(dtype), batch["response_mask"], mode, config,
        rollout_is_weights=batch["weights"].to(dtype) if weights else None,
    )
    loss.backward()
    return loss.detach(), log_prob.grad, metrics


@pytest.fixture
def fresh_compile_cache(monkeypatch):
    monkeypatch.setattr(algos, "_compiled_step", None)


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "dtype", "widths", "ratio_level", "weights"), [
    ("token-mean", torch.float32, None, "token", False),
    ("seq-mean-token-mean", torch.float32, {"clip_pos_high": 0.28, "clip_neg_high": float("inf")}, "sequence", True),
    ("token-sum", torch.bfloat16, {"clip_neg_low": 0.3}, "token", True),
])
def test_compiled_step_matches_eager(monkeypatch, fresh_compile_cache, mode, dtype, widths, ratio_level, weights):
    batch = random_batch(bs=16, length=64, seed=4, spread=2.0)  # wide enough that some sequences clip too
    monkeypatch.setenv(COMPILE_ENV, "0")
    eager_loss, eager_grad, eager_metrics = run(batch, mode, dtype, widths, ratio_level, weights)
    monkeypatch.setenv(COMPILE_ENV, "1")
    fused_loss, fused_grad, fused_metrics = run(batch, mode, dtype, widths, ratio_level, weights)
    assert algos._compiled_step not in (None, False)  # the compiled path really ran
    torch.testing.assert_close(fused_loss, eager_loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(fused_grad.float(), eager_grad.float(), rtol=1e-6, atol=1e-6)
    assert fused_metrics == pytest.approx(eager_metrics, rel=1e-6, abs=1e-9)
    assert eager_metrics["actor/pg_clipfrac"] > 0  # not a vacuous comparison


def test_compile_failure_falls_back_to_eager_with_a_warning(monkeypatch, fresh_compile_cache):
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler here")

    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: broken)
    batch = random_batch(seed=6)
    monkeypatch.setenv(COMPILE_ENV, "0")
    expected = run(batch, "token-mean", torch.float32)
    monkeypatch.setenv(COMPILE_ENV, "1")
    with pytest.warns(UserWarning, match="torch.compile failed .*no C\\+\\+ compiler.*eager path"):
        fallback = run(batch, "token-mean", torch.float32)
    assert algos._compiled_step is False  # later calls go straight to eager
    assert torch.equal(fallback[0], expected[0]) and torch.equal(fallback[1], expected[1])


def test_backward_compile_failure_is_caught_before_verl_calls_backward(monkeypatch, fresh_compile_cache):
    """Inductor compiles the backward lazily; the warm-up step must surface its failure inside the loss call."""
    def compile_with_broken_backward(fn, **kwargs):
        def forward(*args):
            loss, stats = fn(*args)
            loss.register_hook(lambda grad: (_ for _ in ()).throw(RuntimeError("backward codegen failed")))
            return loss, stats
        return forward

    monkeypatch.setattr(torch, "compile", compile_with_broken_backward)
    monkeypatch.setenv(COMPILE_ENV, "1")
    batch = random_batch(seed=6)
    with pytest.warns(UserWarning, match="backward codegen failed"):
        _, grad, _ = run(batch, "token-mean", torch.float32)  # run() calls backward(): it must not raise
    assert algos._compiled_step is False
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("value", ["yes", "", "2"])
def test_invalid_setting_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(COMPILE_ENV, value)
    batch = random_batch()
    with pytest.raises(ValueError, match=f"environment variable ABC_GRPO_COMPILE='{value}' is invalid: valid values "
                                         "are 0, 1, true, false"):
        run(batch, "token-mean", torch.float32)


@pytest.mark.parametrize(("value", "fused"), [("TRUE", True), ("false", False), ("1", True), ("0", False)])
def test_switch_spellings(monkeypatch, fresh_compile_cache, value, fused):
    monkeypatch.setenv(COMPILE_ENV, value)
    run(random_batch(seed=2), "token-mean", torch.float32)
    assert (algos._compiled_step not in (None, False)) is fused


def test_bad_input_raises_as_in_eager_and_keeps_the_compiled_path(monkeypatch, fresh_compile_cache):
    """verl's agg_loss refuses dp_size > 1 without a global token count: its own error, on the compiled path too."""
    with pytest.raises(ValueError) as verl_error:
        core_algos.agg_loss(torch.zeros(2, 2), torch.ones(2, 2), "token-mean", dp_size=2)
    monkeypatch.setenv(COMPILE_ENV, "1")
    batch = random_batch(seed=7)
    config = make_actor_config()
    config.global_batch_info.update({"dp_size": 2})  # but no global token count
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=re.escape(str(verl_error.value))):
            compute_policy_loss_abc_grpo(batch["old_log_prob"], batch["log_prob"].requires_grad_(True),
                                         batch["advantages"], batch["response_mask"], "token-mean", config)
    assert not [w for w in caught if "torch.compile failed" in str(w.message)]  # not mistaken for a compiler fault
    assert algos._compiled_step is not False


def test_an_input_error_of_another_type_keeps_the_compiled_path(monkeypatch, fresh_compile_cache):
    """A batch-info key the installed agg_loss does not take is verl's TypeError, not a compiler fault."""
    batch = random_batch(seed=7)
    config = make_actor_config()
    config.global_batch_info.update({"no_such_key": 1})
    with pytest.raises(TypeError) as eager_error:
        core_algos.agg_loss(torch.zeros(2, 2), torch.ones(2, 2), "token-mean", no_such_key=1)
    monkeypatch.setenv(COMPILE_ENV, "1")
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: compiled.append(fn) or fn)  # compiles nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TypeError, match=re.escape(str(eager_error.value))) as raised:
            compute_policy_loss_abc_grpo(batch["old_log_prob"], batch["log_prob"].requires_grad_(True),
                                         batch["advantages"], batch["response_mask"], "token-mean", config)
    assert compiled == [algos.abc_loss_step]  # the fused path was tried, and failed on the input
    assert raised.value.__suppress_context__  # the eager error alone, not chained to the compiler's attempt
    assert not [w for w in caught if "torch.compile failed" in str(w.message)]
    assert algos._compiled_step is not False


def test_an_error_of_the_eager_path_is_raised_once(monkeypatch, fresh_compile_cache):
    """Once the fused path is off, an input error is eager's alone: no second eager run, no compiler warning."""
    monkeypatch.setattr(algos, "_compiled_step", False)
    monkeypatch.setenv(COMPILE_ENV, "1")
    calls = []
    original = algos.abc_loss_step
    monkeypatch.setattr(algos, "abc_loss_step", lambda *args: calls.append(1) or original(*args))
    batch = random_batch(seed=7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="no-such-mode"):
            compute_policy_loss_abc_grpo(batch["old_log_prob"], batch["log_prob"], batch["advantages"],
                                         batch["response_mask"], "no-such-mode", make_actor_config())
    assert calls == [1] and not caught


@pytest.mark.slow
def test_input_error_after_a_successful_compile_is_the_eager_error(monkeypatch, fresh_compile_cache):
    """A shape error once the fused path is built: the same message as eager, and the fused path stays on."""
    monkeypatch.setenv(COMPILE_ENV, "1")
    batch = random_batch(seed=7)
    run(batch, "token-mean", torch.float32)
    compiled = algos._compiled_step
    assert compiled not in (None, False)
    config = make_actor_config()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"advantages has shape \(9,\) but log_prob has \(6, 9\)"):
            compute_policy_loss_abc_grpo(batch["old_log_prob"], batch["log_prob"], batch["advantages"][0],
                                         batch["response_mask"], "token-mean", config)
    assert not [w for w in caught if "torch.compile failed" in str(w.message)]
    assert algos._compiled_step is compiled
