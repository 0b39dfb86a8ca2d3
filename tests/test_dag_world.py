"""DAG model sharing inside the IoV world (``chain.dag=True``): the DAG and its anchors verify
after an episode, sharing costs time and energy, and the env's contracts still hold."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import bcfl_env  # noqa: F401
from agents import make_selector

DAG = {"chain__dag": True, "chain__dag_anchor_every": 3, "target_accuracy": 1.0}


def _run(steps, seed=0, **overrides):
    env = gym.make("bcfl/IoV-v1", max_rounds=steps, **{**DAG, **overrides})
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = [obs]
    for _ in range(steps):
        obs, reward, _, _, info = env.step(env.action_space.sample())
        trace.append((obs, reward, info))
    return env.unwrapped, trace


def test_the_dag_and_its_anchors_verify_after_an_episode():
    env, trace = _run(12)
    sharing = env.world.dag_sharing
    report = sharing.verify()
    assert report["anchors"] == 4 and report["transactions"] == 1 + sharing.stats["published"]
    assert sharing.stats["published"] > 10
    env.ledger.verify()  # the anchors are transactions of certified blocks
    assert len(env.ledger.transactions("dag_anchor")) == 4


def test_pulling_neighbour_models_costs_time_and_the_senders_energy():
    env, _ = _run(20, network__mobility__initial_occupancy=1.0)
    stats = env.world.dag_sharing.stats
    assert stats["pulled"] > 0
    assert stats["seconds"] > 0 and stats["joules"] > 0
    assert stats["bits"] == stats["pulled"] * env.world.payload_bits


def test_determinism_and_accounting_hold_with_the_dag_on():
    _, a = _run(10, chain__key_source="seed")
    _, b = _run(10, chain__key_source="seed")
    np.testing.assert_array_equal(a[0], b[0])
    open_jobs: set[int] = set()
    for (oa, ra, ia), (ob, rb, ib) in zip(a[1:], b[1:], strict=True):
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb and ia == ib
        resolved = ia["accepted"] + [i for i, _ in ia["rejected"]] + [i for i, _ in ia["dropped"]]
        started = set(ia["selected_ids"]) | open_jobs
        assert started == set(resolved) | set(ia["in_flight"])  # nothing lost silently
        open_jobs = set(ia["in_flight"])


def test_checker_passes_with_the_dag_on():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("bcfl/IoV-v1", max_rounds=4, chain__dag=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    assert [str(w.message) for w in caught] == []


def test_dag_state_is_observed_in_two_documented_columns_only_with_the_dag_on():
    """Neighbour models a vehicle could pull, and how confirmed its own last model is: what the
    RSUs know from the DAG they anchor and the position beacons they receive."""
    off = gym.make("bcfl/IoV-v1", max_rounds=2).unwrapped
    assert "dag_neighbours" not in off.feature_names and off.num_features == 11
    env = gym.make("bcfl/IoV-v1", max_rounds=8, **DAG).unwrapped
    names = env.feature_names
    assert names[:11] == off.feature_names, "the server columns keep their places"
    assert names[11:] == ["dag_neighbours", "dag_confirmation"]
    assert env.observation_space.shape == ((env.num_slots + 1) * 13,)
    selector = make_selector("random", env, seed=0)
    obs, _ = env.reset(seed=4)
    seen_neighbours = seen_confirmed = 0.0
    for _ in range(8):
        action, _ = selector.predict(obs)
        obs, *_ = env.step(action)
        assert env.observation_space.contains(obs)
        rows = env.as_matrix(obs)[:-1]
        world, sharing = env.world, env.world.dag_sharing
        net = world.network
        present = net.present & (net.slot_identity >= 0)
        xy = net.positions()
        for slot in np.flatnonzero(present):  # recount from the world's state, slot by slot
            me = int(net.slot_identity[slot])
            near = [
                other for other in np.flatnonzero(present)
                if other != slot and np.linalg.norm(xy[other] - xy[slot]) <= sharing.range_m
                and (tx := sharing.latest.get(int(net.slot_identity[other]))) is not None
                and sharing.dag.confirmed(tx)
            ]  # fmt: skip
            assert rows[slot, 11] == pytest.approx(len(near) / (len(near) + 2), abs=1e-6)
            tx = sharing.latest.get(me)
            level = 0.0 if tx is None else min(sharing.dag.cumulative_weight(tx) / sharing.dag.confirm_weight, 1.0)  # fmt: skip
            assert rows[slot, 12] == pytest.approx(level, abs=1e-6)
        assert not rows[~present][:, 11:].any()
        seen_neighbours = max(seen_neighbours, float(rows[:, 11].max()))
        seen_confirmed = max(seen_confirmed, float(rows[:, 12].max()))
    assert seen_neighbours > 0 and seen_confirmed == 1.0, "both columns carry signal"
