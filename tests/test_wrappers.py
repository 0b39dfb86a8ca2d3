"""DiscreteSelection builds a selection pick by pick and runs it through the wrappers it sits
on, without ever changing the env it wraps."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.monitor import Monitor

import bcfl_env
from bcfl_env import DiscreteSelection, unwrap
from bcfl_env.envs import Selection


def _picks(max_rounds: int = 3) -> DiscreteSelection:
    return DiscreteSelection(Monitor(gym.make("bcfl/IoV-v1", max_rounds=max_rounds)))


def test_picks_run_through_an_outer_monitor_and_the_budget_never_changes():
    env = _picks()
    env.reset(seed=0)
    base = unwrap(env)
    k = base.budget
    lengths = 0
    for _ in range(3):
        first = int(np.flatnonzero(env.action_masks()[:-1])[0])
        env.step(first)
        assert base.budget == k
        *_, terminated, truncated, info = env.step(env.n)  # done: run the epoch with one pick
        assert info["selected"] == [first] and base.budget == k
        lengths += 1
    assert truncated and not terminated
    monitor = env.env
    assert isinstance(monitor, Monitor) and monitor.get_episode_lengths() == [lengths]


def test_a_snapshot_with_picks_replays_to_the_same_state():
    env = _picks(max_rounds=5)
    env.reset(seed=1)
    for _ in range(2):
        env.step(int(np.flatnonzero(env.action_masks()[:-1])[0]))
        env.step(env.n)
    snapshot = env.snapshot()
    twin = _picks(max_rounds=5)
    twin.reset(seed=1)
    obs = twin.restore(snapshot)
    assert np.array_equal(obs, env._augment(env._obs))
    assert unwrap(twin).world.time_s == unwrap(env).world.time_s


def test_an_invalid_selection_is_refused_naming_the_slots():
    env = gym.make("bcfl/IoV-v1")
    env.reset(seed=0)
    base = unwrap(env)
    ineligible = (
        int(np.flatnonzero(~base.eligible_slots())[0]) if (~base.eligible_slots()).any() else None
    )
    with pytest.raises(ValueError, match="distinct"):
        env.step(Selection((0, 0)))
    with pytest.raises(ValueError, match=r"lie in \[0, 19\]"):
        env.step(Selection((25,)))
    if ineligible is not None:
        with pytest.raises(ValueError, match="eligible"):
            env.step(Selection((ineligible,)))
    assert bcfl_env.unwrap(env).world.round == 0  # nothing ran
