"""RSUs as agents (PettingZoo): the API and seed tests on every preset, what an RSU may know,
the budget split, and parameter-shared PPO through SuperSuit and SB3."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

from bcfl_env.envs.rsu_agents import RSUAgentsEnv, coverage_budgets, rsu_agents_aec, rsu_agents_env

# seed-derived keys: two instances with one seed then write the same ledger (the seed test
# compares infos, which carry the chain head); with the default secret keys only that differs
SEEDED = {"max_rounds": 6, "chain.key_source": "seed"}


@pytest.mark.parametrize("preset", ["iov", "iiot", "ioht"])
def test_pettingzoo_api_and_seed_tests_pass(preset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the API test passes reset options, which are named
        parallel_api_test(rsu_agents_env(preset, **SEEDED), num_cycles=8)
        parallel_seed_test(lambda: rsu_agents_env(preset, **SEEDED))
        api_test(rsu_agents_aec(preset, **SEEDED), num_cycles=8)


def test_reset_options_are_named_not_silently_dropped():
    env = rsu_agents_env("iov", max_rounds=3)
    with pytest.warns(UserWarning, match="ignored"):
        env.reset(seed=0, options={"foo": 1})


def test_budgets_split_k_in_proportion_to_coverage():
    assert coverage_budgets(np.array([6, 3, 1, 0]), 5).tolist() == [3, 2, 0, 0]
    assert coverage_budgets(np.array([1, 1, 0]), 5).tolist() == [1, 1, 0]  # fewer than K: all
    split = coverage_budgets(np.array([7, 7, 7]), 5)
    assert split.sum() == 5 and split.tolist() == [2, 2, 1]  # ties to the lower index
    rng = np.random.default_rng(0)
    for _ in range(200):
        counts = rng.integers(0, 9, size=6)
        share = coverage_budgets(counts, 5)
        assert share.sum() == min(5, counts.sum()) and np.all(share <= counts)


def _env_with_two_covering_rsus(seed: int = 3) -> tuple[RSUAgentsEnv, int, int, int, int]:
    env = RSUAgentsEnv(preset="iov", **{"chain.key_source": "seed"})
    env.reset(seed=seed)
    for _ in range(20):
        serving = env.coverage()
        present = env.world_env.world.network.present
        counts = np.bincount(serving[present & (serving >= 0)], minlength=env.num_rsus)
        busy = np.flatnonzero(counts > 0)
        if busy.size >= 2:
            r, q = int(busy[0]), int(busy[1])
            inside = int(np.flatnonzero((serving == r) & present)[0])
            outside = int(np.flatnonzero((serving == q) & present)[0])
            return env, r, q, inside, outside
        env.step({a: np.zeros(env.num_slots, np.float32) for a in env.agents})
    raise AssertionError("no two RSUs with vehicles in coverage")


def test_an_rsu_observation_changes_with_its_coverage_and_the_chain_only():
    """A vehicle outside RSU r's coverage changes: r sees nothing (its owner does). A vehicle
    inside changes, or the chain changes: r sees it."""
    env, r, q, inside, outside = _env_with_two_covering_rsus()
    world = env.world_env.world
    me, owner = f"rsu{r}", f"rsu{q}"
    before, before_owner = env.observe(me), env.observe(owner)
    # half the battery of a vehicle RSU q serves (a reported value; it stays eligible)
    identity = int(world.network.slot_identity[outside])
    world.network.spend_energy(identity, 0.5 * world.network.energy_left_j[identity])
    assert np.array_equal(env.observe(me), before)
    assert not np.array_equal(env.observe(owner), before_owner)
    # the same for a vehicle r serves
    identity = int(world.network.slot_identity[inside])
    world.network.spend_energy(identity, 0.5 * world.network.energy_left_j[identity])
    after_inside = env.observe(me)
    assert not np.array_equal(after_inside, before)
    # the chain: a reputation recorded for a vehicle r serves
    world.chain.reputation.record(world.vehicle_ids[identity], False)
    assert not np.array_equal(env.observe(me), after_inside)
    # no row of a slot outside r's coverage is ever non-zero
    rows = env.observe(me).reshape(env.num_slots + 1, env.num_features)
    assert not rows[:-1][env.coverage() != r].any()


def test_an_rsu_without_vehicles_is_a_no_op_and_picks_stay_in_coverage():
    env = RSUAgentsEnv(preset="iov", max_rounds=8)
    env.reset(seed=1)
    for _ in range(5):
        serving, budgets = env.coverage(), env.budgets()
        actions = {a: env.action_space(a).sample() for a in env.agents}
        _, rewards, _, _, infos = env.step(actions)
        for agent, info in infos.items():
            r = int(agent[3:])
            assert len(info["selected"]) == budgets[r]
            assert all(serving[s] == r for s in info["selected"])
            assert info["messages_to_mbs"] == 1 + budgets[r]
        assert len(set(rewards.values())) == 1  # cooperative: one reward
        if not env.agents:
            break
    with pytest.raises(ValueError, match="rsu0"):
        env.reset(seed=2)
        env.step({"rsu0": np.full(env.num_slots, 2.0, np.float32)})


@pytest.mark.parametrize("backend", ["supersuit", "native"])
def test_parameter_shared_ppo_trains_through_supersuit_and_sb3(backend):
    from training.multi_agent import act_shared, train_shared

    model = train_shared(
        "iov", 192, seed=0, num_worlds=2, backend=backend,
        hyperparams={"n_steps": 16, "batch_size": 32, "n_epochs": 1}, max_rounds=6,
    )  # fmt: skip
    assert model.num_timesteps >= 192
    env = rsu_agents_env("iov", max_rounds=3)
    obs, _ = env.reset(seed=4)
    while env.agents:
        obs, *_ = env.step(act_shared(model, env, obs))


def test_bcfl_train_multi_agent_writes_a_run(tmp_path):
    from training.cli import main

    code = main([
        "train", "--multi-agent", "--env", "bcfl/IoHT-v1", "--timesteps", "64", "--num-envs", "1",
        "--hyperparams", "n_steps=16", "batch_size=16", "n_epochs=1", "--runs-dir", str(tmp_path),
    ])  # fmt: skip
    assert code == 0
    (run,) = tmp_path.iterdir()
    assert (run / "model.zip").is_file() and (run / "manifest.json").is_file()


def test_worlds_stepped_together_equal_each_world_alone():
    """The native multi-world vector env (every world's training in one call) steps world w as a
    lone RSU env with the same seed and actions does, through the same-step reset."""
    from training.multi_agent import RSUWorldsVecEnv

    kwargs = {"max_rounds": 4, "chain.key_source": "seed"}
    vec = RSUWorldsVecEnv("iov", 2, **kwargs)
    vec.seed(10)
    obs = vec.reset()
    r = len(vec.agents)
    alone = RSUAgentsEnv(preset="iov", **kwargs)
    single, _ = alone.reset(seed=10 + r)  # world 1 is seeded by its first entry, 10 + R
    np.testing.assert_array_equal(obs[r:], np.stack([single[a] for a in vec.agents]))
    rng = np.random.default_rng(0)
    for step in range(6):
        actions = rng.uniform(-1, 1, size=(vec.num_envs, vec.action_space.shape[0])).astype(
            np.float32
        )
        obs, rewards, dones, infos = vec.step(actions)
        mine = {a: actions[r + k] for k, a in enumerate(vec.agents)}
        single, reward, term, trunc, _ = alone.step(mine)
        ended = any(term.values()) or any(trunc.values())
        expected = np.stack([single[a] for a in vec.agents])
        if ended:  # the vector env reset it in the same step and kept the last observation
            np.testing.assert_array_equal(
                np.stack([infos[r + k]["terminal_observation"] for k in range(r)]), expected
            )
            single, _ = alone.reset()
            expected = np.stack([single[a] for a in vec.agents])
        np.testing.assert_array_equal(obs[r:], expected, err_msg=f"step {step}")
        assert rewards[r] == np.float32(reward["rsu0"]) and dones[r] == ended


def test_independent_learners_train_one_policy_per_rsu():
    from training.multi_agent import act_independent, rsu_episode, train_independent

    models = train_independent(
        "ioht", 16, turns=1, seed=0,
        hyperparams={"n_steps": 8, "batch_size": 8, "n_epochs": 1}, max_rounds=4,
    )  # fmt: skip
    env = rsu_agents_env("ioht", max_rounds=4)
    assert sorted(models) == env.possible_agents
    assert len({id(m.policy) for m in models.values()}) == len(models)  # no sharing
    assert all(m.num_timesteps >= 16 for m in models.values())
    episode = rsu_episode(env, act_independent(models), seed=3)
    assert episode["rounds"] >= 1 and episode["messages_per_epoch"] > 0


def test_an_invalid_action_is_refused_even_from_an_rsu_with_nothing_to_choose():
    env = RSUAgentsEnv(preset="iov", max_rounds=30)
    env.reset(seed=0)
    for _ in range(30):
        idle = [a for a in env.agents if env.budgets()[int(a[3:])] == 0]
        if idle:
            break
        env.step({a: np.zeros(env.num_slots, np.float32) for a in env.agents})
    assert idle, "no RSU without a share of K in 30 epochs"
    with pytest.raises(ValueError, match=idle[0]):
        env.step({idle[0]: np.full(env.num_slots, np.nan, np.float32)})
