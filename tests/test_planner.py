"""The rollout planner (the leaderboard's ceiling): it looks ahead on clones, and nothing of its
look-ahead reaches the real world or an agent's observation."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest

import bcfl_env
from agents import SlotSpec, make_selector
from agents.planner import RolloutPlanner, random_generators, reseed


def _episode(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    trace, actions = [obs], []
    while True:
        action, _ = policy.predict(obs)
        actions.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        trace += [obs, reward, info["chain_head"], info["selected"]]
        if terminated or truncated:
            return trace, actions


@pytest.mark.parametrize("name", ["planner", "planner-no-foresight", "planner-no-foresight-x4"])
def test_the_look_ahead_leaves_the_real_world_as_it_was(name):
    """An episode driven by the planner equals a replay of its actions on a fresh env with the same
    seed: the clones' steps consumed none of the real world's randomness and changed none of its
    state (nor did reseeding them), so no observation saw the future."""
    kwargs = {"max_rounds": 4, "chain.key_source": "seed"}
    env = gym.make("bcfl/IoV-v1", **kwargs)
    planner = make_selector(name, env, seed=0, candidates=4, horizon=2)
    assert isinstance(planner, RolloutPlanner)
    planned, actions = _episode(env, planner, seed=5)
    assert len(planner.last_values) == 4  # it did compare four rollouts
    replay_env = gym.make("bcfl/IoV-v1", **kwargs)
    obs, _ = replay_env.reset(seed=5)
    replayed = [obs]
    for action in actions:
        obs, reward, _, _, info = replay_env.step(action)
        replayed += [obs, reward, info["chain_head"], info["selected"]]
    assert len(planned) == len(replayed)
    for a, b in zip(planned, replayed, strict=True):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def test_without_foresight_the_clones_draw_a_future_of_their_own_from_the_same_present():
    """A clone steps exactly as the real world does (the ceiling sees the realised future); once
    reseeded it does not, and two clones reseeded alike step alike (common random numbers)."""
    env = gym.make("bcfl/IoV-v1", max_rounds=8, **{"chain.key_source": "seed"})
    env.reset(seed=7)
    env.action_space.seed(0)
    for _ in range(2):
        env.step(env.action_space.sample())
    base = bcfl_env.unwrap(env)
    generators = random_generators(base)
    world = base.world
    named = [world.network.mobility.rng, world.network.channel.rng, world.network._fleet_rng]
    named += [world.fl.rng, world.fl.generator, world.chain.rng, world._failure_rng]
    assert all(any(g is n for g in generators) for n in named)
    seen, fresh, fresh_too = (copy.deepcopy(base) for _ in range(3))
    seeds = np.random.default_rng(1).integers(2**63, size=len(generators))
    reseed(random_generators(fresh), seeds)
    reseed(random_generators(fresh_too), seeds)
    action = env.action_space.sample()
    real = env.step(action)[0]
    assert np.array_equal(seen.step(action)[0], real)
    drawn_afresh = fresh.step(action)[0]
    assert not np.array_equal(drawn_afresh, real)
    assert np.array_equal(fresh_too.step(action)[0], drawn_afresh)
    with pytest.raises(ValueError, match="generators but"):
        reseed(generators, seeds[:-1])


def test_with_one_candidate_the_planner_is_its_base_policy():
    """Rollout with a single candidate takes the base policy's choice: the episode is Oort's."""
    env = gym.make("bcfl/IoV-v1", max_rounds=5, **{"chain.key_source": "seed"})
    planned, _ = _episode(env, make_selector("planner", env, seed=3, candidates=1, horizon=1), 11)
    oort, _ = _episode(env, make_selector("oort", env, seed=3), 11)
    for a, b in zip(planned, oort, strict=True):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def test_the_planner_needs_the_env_and_sane_settings():
    env = gym.make("bcfl/IoV-v1")
    with pytest.raises(ValueError, match="needs a bcfl env"):
        make_selector("planner", SlotSpec.of(env))
    with pytest.raises(ValueError, match="at least 1"):
        make_selector("planner", env, candidates=0)
    with pytest.raises(ValueError, match="futures=2: at least 1, and 1 with foresight"):
        make_selector("planner", env, futures=2)
    with pytest.raises(ValueError, match="futures=0"):
        make_selector("planner-no-foresight", env, futures=0)
    assert bcfl_env.unwrap(env).world is None  # building a planner steps nothing
