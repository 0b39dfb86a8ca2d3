"""DAG model sharing inside the IoV world (``chain.dag=True``): the DAG and its anchors verify
after an episode, sharing costs time and energy, and the env's contracts still hold."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np

import bcfl_env  # noqa: F401

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
