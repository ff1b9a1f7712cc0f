"""Through verl's own code paths: ppo_loss (what the actor worker calls) and compute_advantage (the trainer)."""

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from transformers import Qwen3Config, Qwen3ForCausalLM
from verl import DataProto
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage
from verl.trainer.ppo.ray_trainer import compute_advantage
from verl.utils import tensordict_utils as tu
from verl.workers.utils.losses import ppo_loss

from abc_grpo_verl.algos import compute_policy_loss_abc_grpo
from tests.support import make_actor_config

PROMPT_LEN, RESPONSE_LEN, VOCAB = 4, 6, 64


def tiny_qwen3(seed=0):
    torch.manual_seed(seed)
    config = Qwen3Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64)
    return Qwen3ForCausalLM(config)


def rollout_batch(bs=4, seed=0):
    """Left-padded prompts and right-padded responses of ragged length, as verl's rollout produces."""
    gen = torch.Generator().manual_seed(seed)
    prompt_lens = torch.randint(1, PROMPT_LEN + 1, (bs,), generator=gen)
    response_lens = torch.randint(1, RESPONSE_LEN + 1, (bs,), generator=gen)
    prompts = torch.randint(1, VOCAB, (bs, PROMPT_LEN), generator=gen)
    responses = torch.randint(1, VOCAB, (bs, RESPONSE_LEN), generator=gen)
    prompt_mask = torch.arange(PROMPT_LEN)[None] >= (PROMPT_LEN - prompt_lens)[:, None]
    response_mask = torch.arange(RESPONSE_LEN)[None] < response_lens[:, None]
    return prompts, responses, prompt_mask, response_mask


def flat_response_log_probs(model, prompts, responses, prompt_mask, response_mask):
    """What verl's no-padding engine returns: one flat (total_nnz,) tensor, each token's log-prob of the next."""
    pieces = []
    for i in range(prompts.shape[0]):
        ids = torch.cat([prompts[i][prompt_mask[i]], responses[i][response_mask[i]]])
        logits = model(input_ids=ids[None]).logits[0]
        next_log_probs = torch.log_softmax(logits.float(), -1)[:-1].gather(-1, ids[1:, None]).squeeze(-1)
        pieces.append(torch.cat([next_log_probs, next_log_probs.new_zeros(1)]))
    return torch.cat(pieces)


def padded_from_flat(flat, prompt_mask, response_mask):
    rows, offset = [], 0
    for i in range(prompt_mask.shape[0]):
        p, r = int(prompt_mask[i].sum()), int(response_mask[i].sum())
        row = flat[offset + p - 1: offset + p - 1 + r]
        rows.append(torch.nn.functional.pad(row, (0, RESPONSE_LEN - r)))
        offset += p + r
    return torch.stack(rows)


@pytest.mark.parametrize("loss_agg_mode", ["token-mean", "seq-mean-token-mean"])
def test_ppo_loss_runs_abc_grpo_end_to_end_with_gradients(loss_agg_mode):
    model = tiny_qwen3()
    prompts, responses, prompt_mask, response_mask = rollout_batch()
    with torch.no_grad():
        flat_old = flat_response_log_probs(model, prompts, responses, prompt_mask, response_mask)
    old_log_probs = padded_from_flat(flat_old, prompt_mask, response_mask)
    # move the policy so the ratio leaves 1, as later mini-batches of a rollout do
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    advantages = torch.tensor([[1.0], [-1.0], [0.5], [-0.5]]).expand(-1, RESPONSE_LEN) * response_mask
    data = TensorDict(
        {"prompts": prompts, "responses": responses,
         "attention_mask": torch.cat([prompt_mask, response_mask], 1).long(),
         "response_mask": response_mask.long(), "old_log_probs": old_log_probs, "advantages": advantages},
        batch_size=[4],
    )
    tu.assign_non_tensor(data, dp_size=1, batch_num_tokens=int(response_mask.sum()), global_batch_size=4)
    config = make_actor_config(loss_agg_mode=loss_agg_mode, clip_pos_high=0.25, clip_neg_high=0.3)

    flat_new = flat_response_log_probs(model, prompts, responses, prompt_mask, response_mask)
    loss, metrics = ppo_loss(config, {"log_probs": flat_new}, data)
    loss.backward()

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert {"actor/abc_clipfrac_q1", "actor/abc_clipfrac_q4", "actor/pg_loss"} <= set(metrics)
    assert metrics["actor/pg_clipfrac"].aggregate() > 0  # the perturbation pushed some tokens out of their band
    # the same number as a direct call with the padded tensors and the same global normalisers
    direct_config = make_actor_config(loss_agg_mode=loss_agg_mode, clip_pos_high=0.25, clip_neg_high=0.3)
    direct_config.global_batch_info.update(config.global_batch_info)
    direct, direct_metrics = compute_policy_loss_abc_grpo(
        old_log_probs, padded_from_flat(flat_new.detach(), prompt_mask, response_mask), advantages,
        response_mask.bool(), loss_agg_mode, direct_config)
    assert loss.item() == pytest.approx(direct.item(), rel=1e-6)
    assert metrics["actor/abc_clipfrac_q4"].aggregate() == pytest.approx(direct_metrics["actor/abc_clipfrac_q4"])


@pytest.mark.parametrize("norm_by_std", [True, False])
def test_trainer_compute_advantage_dispatches_to_abc_grpo(norm_by_std):
    gen = torch.Generator().manual_seed(1)
    rewards = torch.zeros(12, 5)
    rewards[:, -1] = torch.randint(0, 2, (12,), generator=gen).float()
    mask = torch.ones(12, 5)
    uids = np.array([f"prompt-{i // 4}" for i in range(12)], dtype=object)
    data = DataProto.from_dict(tensors={"token_level_rewards": rewards, "response_mask": mask},
                               non_tensors={"uid": uids})
    from omegaconf import OmegaConf

    algo = OmegaConf.create({"adv_estimator": "abc_grpo", "norm_adv_by_std_in_grpo": norm_by_std})
    out = compute_advantage(data, adv_estimator="abc_grpo", norm_adv_by_std_in_grpo=norm_by_std, config=algo)
    expected, _ = compute_grpo_outcome_advantage(rewards, mask, uids, norm_adv_by_std_in_grpo=norm_by_std)
    torch.testing.assert_close(out.batch["advantages"], expected)
