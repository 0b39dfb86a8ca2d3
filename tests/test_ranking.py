import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch

import bcfl_env  # noqa: F401  (registers the ids)
from agents.ranking import PlackettLuceDistribution, picks_from_scores, scores_from_picks


def _dist(logits, eligible, k):
    logits = torch.as_tensor(logits, dtype=torch.float32)
    eligible = torch.as_tensor(eligible, dtype=torch.bool)
    return PlackettLuceDistribution().proba_distribution(
        logits, eligible, torch.full((logits.shape[0],), k)
    )


def _encode(order, n, k):
    valid = torch.tensor([[True] * len(order) + [False] * (k - len(order))])
    # pad with slots not in the order so the picks stay distinct
    pad = [s for s in range(n) if s not in order][: k - len(order)]
    picks = torch.tensor([list(order) + pad])
    return scores_from_picks(picks, valid, n)


def test_ordered_selections_sum_to_one_and_skip_ineligible_slots():
    logits = [[0.3, -1.2, 2.0, 0.0, 0.7]]
    eligible = [[True, True, True, False, True]]
    dist = _dist(logits, eligible, 3)
    total = 0.0
    for order in itertools.permutations([0, 1, 2, 4], 3):
        total += dist.log_prob(_encode(order, 5, 3)).exp().item()
    assert total == pytest.approx(1.0, abs=1e-5)
    # the first pick is a softmax over the eligible logits
    first = torch.softmax(torch.tensor([0.3, -1.2, 2.0, 0.7]), 0)
    p_first_2 = sum(
        dist.log_prob(_encode(o, 5, 3)).exp().item()
        for o in itertools.permutations([0, 1, 2, 4], 3)
        if o[0] == 2
    )
    assert p_first_2 == pytest.approx(first[2].item(), abs=1e-5)


def test_gumbel_top_k_samples_follow_the_log_probabilities():
    torch.manual_seed(0)
    logits = torch.tensor([[1.0, 0.0, -0.5, 0.5]]).expand(40_000, 4)
    dist = _dist(logits, torch.ones(40_000, 4, dtype=torch.bool), 2)
    picks, valid = picks_from_scores(dist.sample(), 2)
    assert valid.all()
    counts: dict[tuple[int, int], int] = {}
    for a, b in picks.tolist():
        counts[(a, b)] = counts.get((a, b), 0) + 1
    one = _dist(logits[:1], torch.ones(1, 4, dtype=torch.bool), 2)
    for order in itertools.permutations(range(4), 2):
        expected = one.log_prob(_encode(order, 4, 2)).exp().item()
        assert counts.get(order, 0) / 40_000 == pytest.approx(expected, abs=0.01)


def test_fewer_eligible_slots_than_picks_and_the_mode():
    dist = _dist([[0.1, 3.0, 2.0, -1.0]], [[False, True, True, False]], 3)
    mode = dist.mode()
    assert torch.equal(mode > 0, torch.tensor([[False, True, True, False]]))
    assert mode[0, 1] > mode[0, 2]  # highest logit first
    assert dist.log_prob(mode).exp().item() == pytest.approx(
        torch.softmax(torch.tensor([3.0, 2.0]), 0)[0].item(), abs=1e-5
    )  # the second pick is forced
    assert dist.entropy_along(mode).item() > 0


def test_plackett_luce_actions_select_exactly_their_picks_in_the_env(tmp_path):
    from stable_baselines3 import PPO

    from agents.sb3 import SlotSetPolicy, load_slot_policy

    env = gym.make("bcfl/IoV-v1", max_rounds=6)
    model = PPO(
        SlotSetPolicy,
        env,
        n_steps=16,
        batch_size=16,
        n_epochs=2,
        seed=0,
        device="cpu",
        policy_kwargs={"distribution": "plackett-luce"},
    )
    model.learn(32)
    obs, _ = env.reset(seed=2)
    for _ in range(3):
        action, _ = model.predict(obs, deterministic=False)
        picks = np.flatnonzero(action > 0)
        assert env.action_space.contains(action) and picks.size == min(
            5, int(env.unwrapped.action_masks().sum())
        )
        assert set(picks) <= set(np.flatnonzero(env.unwrapped.action_masks()))
        obs, _, _, _, info = env.step(action)
        assert info["selected"] == sorted(picks.tolist())
    model.save(tmp_path / "pl.zip")
    env40 = gym.make("bcfl/IoV-v1", num_vehicles=40, vehicles_per_round=8, max_rounds=2)
    obs40, _ = env40.reset(seed=0)
    action, _ = load_slot_policy(tmp_path / "pl.zip", env40).predict(obs40, deterministic=True)
    assert (action > 0).sum() == 8  # K is read from the observation


def test_unknown_distribution_is_rejected():
    from stable_baselines3 import PPO

    from agents.sb3 import SlotSetPolicy

    with pytest.raises(ValueError, match="plackett-luce"):
        PPO(SlotSetPolicy, gym.make("bcfl/IoV-v1"), policy_kwargs={"distribution": "beta"})
