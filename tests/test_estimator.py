"""The abc_grpo advantage estimator: verl's grpo numbers on random grouped batches, and the n == 1 error."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from verl.trainer.ppo.core_algos import get_adv_estimator_fn


def group_advantage_by_hand(scores, uids, norm_by_std):
    """GRPO's advantage written out per group with numpy, in float64: (R - mean) / (std + 1e-6), unbiased std; a
    group of one response has no baseline (mean 0, std 1), as verl's grpo defines it."""
    scores = np.asarray(scores, dtype=np.float64)
    advantages = np.empty_like(scores)
    for uid in set(uids):
        members = [i for i, u in enumerate(uids) if u == uid]
        group = scores[members]
        mean, std = (group.mean(), group.std(ddof=1)) if len(group) > 1 else (0.0, 1.0)
        advantages[members] = (group - mean) / (std + 1e-6) if norm_by_std else group - mean
    return advantages


@settings(max_examples=60, deadline=None)
@given(group_sizes=st.lists(st.integers(1, 8), min_size=1, max_size=12).filter(lambda s: max(s) >= 2),
       binary=st.booleans(), norm_by_std=st.booleans(), seed=st.integers(0, 2**16))
def test_group_advantage_on_random_grouped_batches(group_sizes, binary, norm_by_std, seed):
    gen = torch.Generator().manual_seed(seed)
    bs, length = sum(group_sizes), 7
    uids = np.array([f"uid-{g}" for g, size in enumerate(group_sizes) for _ in range(size)], dtype=object)
    order = torch.randperm(bs, generator=gen)  # groups interleaved, as after verl's batch balancing
    uids = uids[order.numpy()]
    scores = torch.randint(0, 2, (bs,), generator=gen).float() if binary else torch.randn(bs, generator=gen)
    mask = (torch.arange(length)[None] < torch.randint(1, length + 1, (bs, 1), generator=gen)).float()
    rewards = torch.zeros(bs, length)
    rewards[torch.arange(bs), mask.sum(-1).long() - 1] = scores  # outcome reward on the last valid token

    expected = torch.tensor(group_advantage_by_hand(scores.tolist(), list(uids), norm_by_std), dtype=torch.float32)
    config = OmegaConf.create({"norm_adv_by_std_in_grpo": norm_by_std})
    advantages, returns = get_adv_estimator_fn("abc_grpo")(token_level_rewards=rewards, response_mask=mask,
                                                           index=uids, config=config)
    torch.testing.assert_close(advantages, expected[:, None] * mask, rtol=1e-5, atol=1e-5)
    assert returns is advantages


def test_hand_computed_group():
    rewards = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    mask = torch.ones(4, 2)
    uids = np.array(["a", "a", "a", "a"], dtype=object)
    plain, _ = get_adv_estimator_fn("abc_grpo")(rewards, mask, index=uids,
                                                config=OmegaConf.create({"norm_adv_by_std_in_grpo": False}))
    assert plain[:, 0].tolist() == [0.25, -0.75, 0.25, 0.25]  # the paper's Eq. 3: R - mean
    scaled, _ = get_adv_estimator_fn("abc_grpo")(rewards, mask, index=uids, config=None)  # default: std scaling
    std = 0.5  # unbiased std of (1, 0, 1, 1)
    assert scaled[:, 0].tolist() == pytest.approx([0.25 / std, -0.75 / std, 0.25 / std, 0.25 / std], rel=1e-5)


def test_every_group_a_singleton_is_an_error():
    rewards, mask = torch.ones(3, 2), torch.ones(3, 2)
    with pytest.raises(ValueError, match=r"every one of the 3 groups .*actor_rollout_ref.rollout.n must be >= 2"):
        get_adv_estimator_fn("abc_grpo")(rewards, mask, index=np.array(["a", "b", "c"], dtype=object), config=None)


def test_missing_index_is_an_error():
    with pytest.raises(ValueError, match="uid"):
        get_adv_estimator_fn("abc_grpo")(torch.ones(2, 2), torch.ones(2, 2), index=None, config=None)



@pytest.mark.parametrize("value", ["false", "true", "maybe", 0, 1.0, None])
def test_a_std_switch_that_is_not_a_bool_is_an_error_naming_the_key(value):
    """bool('false') is True: a string from a yaml or an env interpolation silently meant std scaling."""
    rewards, mask = torch.tensor([[1.0], [0.0]]), torch.ones(2, 1)
    config = OmegaConf.create({"norm_adv_by_std_in_grpo": value})
    with pytest.raises(ValueError, match=rf"algorithm.norm_adv_by_std_in_grpo={value!r} is a {type(value).__name__}: "
                                         "it must be true or false"):
        get_adv_estimator_fn("abc_grpo")(rewards, mask, index=np.array(["a", "a"], dtype=object), config=config)


def test_a_numpy_bool_std_switch_is_a_bool():
    rewards, mask = torch.tensor([[1.0], [0.0]]), torch.ones(2, 1)
    advantages, _ = get_adv_estimator_fn("abc_grpo")(rewards, mask, index=np.array(["a", "a"], dtype=object),
                                                     config={"norm_adv_by_std_in_grpo": np.bool_(False)})
    assert advantages[:, 0].tolist() == [0.5, -0.5]


def test_singletons_among_groups_get_their_raw_reward_as_grpo_and_a_warning_counting_them(caplog):
    """verl's grpo gives a response that is alone in its group its raw reward as advantage; abc_grpo gives the same
    numbers (tested against verl's grpo) and now says how many responses that was."""
    rewards = torch.tensor([[1.0], [0.0], [0.7], [1.0], [0.3]])
    mask, uids = torch.ones(5, 1), np.array(["a", "a", "b", "c", "c"], dtype=object)
    with caplog.at_level("WARNING", logger="abc_grpo_verl.algos"):
        advantages, _ = get_adv_estimator_fn("abc_grpo")(rewards, mask, index=uids, config=None)
    grpo, _ = get_adv_estimator_fn("grpo")(rewards, mask, index=uids)
    assert advantages[:, 0].tolist() == pytest.approx(group_advantage_by_hand([1, 0, 0.7, 1, 0.3], list(uids), True))
    torch.testing.assert_close(advantages, grpo)
    assert advantages[2, 0].item() == pytest.approx(0.7)
    assert "1 of 5 responses are the only response to their prompt" in caplog.text


def test_no_warning_when_every_group_has_several_responses(caplog):
    with caplog.at_level("WARNING", logger="abc_grpo_verl.algos"):
        get_adv_estimator_fn("abc_grpo")(torch.ones(4, 1), torch.ones(4, 1),
                                         index=np.array(["a", "b", "a", "b"], dtype=object), config=None)
    assert caplog.text == ""
