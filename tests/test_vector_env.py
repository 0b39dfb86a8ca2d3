"""The native vector env (``gymnasium.make_vec``, ``vector_entry_point``): B worlds in one call
behave exactly as B single envs, under Gymnasium's and SB3's autoreset rules."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.vector import AutoresetMode

import bcfl_env
from bcfl_env.envs.vector import BCFLVectorEnv

SEEDED_KEYS = {"chain.key_source": "seed"}  # the same keys in both, so ledger heads compare


def _random_actions(space: gym.spaces.Box, rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.uniform(-1, 1, size=(count, *space.shape)).astype(np.float32)


CASES = [
    ("bcfl/IoV-v1", {"max_rounds": 25}),  # an episode ends at step 25: autoreset is compared too
    ("bcfl/IIoT-v1", {}),
    ("bcfl/IoHT-v1", {}),
    # poisoning (label flipping) and DP noise: each world's own generators after the shared call
    ("bcfl/IoV-v1", {"fl.attack": "label_flip", "fl.malicious_fraction": 0.3, "fl.dp": "gaussian"}),
]


@pytest.mark.parametrize(("env_id", "overrides"), CASES)
def test_eight_worlds_in_one_call_equal_eight_single_envs(env_id, overrides):
    """B = 8 against 8 single envs with seeds s + i, 40 steps, the same actions: the same
    observations, rewards, selections, verdicts, accuracies and ledger heads, bit for bit (the
    batched training computes each row as the single env does, so no tolerance is needed)."""
    kwargs = {**SEEDED_KEYS, **overrides}
    batch = 8
    vec = gym.make_vec(env_id, num_envs=batch, **kwargs)
    assert isinstance(vec, BCFLVectorEnv)
    singles = [gym.make(env_id, **kwargs) for _ in range(batch)]
    obs, _ = vec.reset(seed=100)
    for i, env in enumerate(singles):
        single_obs, _ = env.reset(seed=100 + i)
        np.testing.assert_array_equal(obs[i], single_obs)
    rng = np.random.default_rng(0)
    ended = np.zeros(batch, dtype=bool)
    resets = 0
    for step in range(40):
        actions = _random_actions(vec.single_action_space, rng, batch)
        obs, reward, terminated, truncated, info = vec.step(actions)
        for i, env in enumerate(singles):
            if ended[i]:  # Gymnasium's next-step autoreset: this step resets the world
                single_obs, single_info = env.reset()
                single_reward, resets = 0.0, resets + 1
            else:
                single_obs, single_reward, _, _, single_info = env.step(actions[i])
            where = f"step {step}, world {i}"
            np.testing.assert_array_equal(obs[i], single_obs, err_msg=where)
            assert reward[i] == single_reward, where
            for key in ("selected", "accepted", "rejected", "dropped", "completed"):
                assert list(info[key][i]) == single_info[key], (where, key)
            assert info["accuracy"][i] == single_info["accuracy"], where
            assert info["chain_head"][i] == single_info["chain_head"], where
        ended = terminated | truncated
    if overrides.get("max_rounds") == 25:
        assert resets == batch  # every world ended once and was reset
    assert vec.action_masks().shape == (batch, singles[0].unwrapped.num_slots)
    vec.close()


def test_native_vector_env_matches_gymnasiums_sync_vector_env():
    """Gymnasium's own SyncVectorEnv over the same id is the reference: identical batches,
    info arrays and masks included, through an autoreset."""
    kwargs = {**SEEDED_KEYS, "max_rounds": 4}
    native = gym.make_vec(
        "bcfl/IoV-v1", num_envs=3, vectorization_mode="vector_entry_point", **kwargs
    )
    sync = gym.make_vec("bcfl/IoV-v1", num_envs=3, vectorization_mode="sync", **kwargs)
    assert native.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert native.observation_space == sync.observation_space
    assert native.action_space == sync.action_space
    assert data_equivalence(native.reset(seed=7), sync.reset(seed=7), exact=True)
    rng = np.random.default_rng(1)
    for _ in range(9):
        actions = _random_actions(native.single_action_space, rng, 3)
        a, b = native.step(actions), sync.step(actions)
        assert native.observation_space.contains(a[0])
        for x, y in zip(a[:4], b[:4], strict=True):
            assert data_equivalence(x, y, exact=True)
        assert set(a[4]) == set(b[4])
        for key in ("round", "accuracy", "chain_head", "_round"):
            np.testing.assert_array_equal(a[4][key], b[4][key])
    native.close()
    sync.close()


def test_each_world_passes_gymnasiums_env_checker_and_runs_are_deterministic():
    vec = gym.make_vec("bcfl/IoV-v1", num_envs=2, max_rounds=6)
    for env in vec.unwrapped.envs:
        check_env(env, skip_render_check=True)
    runs = []
    for _ in range(2):  # two instances, one seed: the same trajectory
        vec = gym.make_vec("bcfl/IoV-v1", num_envs=3, max_rounds=6)
        obs, _ = vec.reset(seed=3)
        rng = np.random.default_rng(3)
        trace = [obs]
        for _ in range(4):
            step = vec.step(_random_actions(vec.single_action_space, rng, 3))
            trace += [step[0], step[1]]
        runs.append(trace)
    assert all(np.array_equal(x, y) for x, y in zip(*runs, strict=True))


def test_a_bad_action_names_its_world_and_moves_no_world():
    vec = gym.make_vec("bcfl/IoV-v1", num_envs=4, max_rounds=10)
    with pytest.raises(RuntimeError, match="reset"):
        vec.step(np.zeros((4, 20), np.float32))
    vec.reset(seed=0)
    actions = np.zeros((4, 20), np.float32)
    actions[2, 5] = np.nan
    with pytest.raises(ValueError, match=r"actions\[2\].*NaN"):
        vec.step(actions)
    envs = vec.unwrapped.envs
    assert [e.world.round for e in envs] == [0, 0, 0, 0]
    assert [len(e.snapshot()["actions"]) for e in envs] == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="one action per world"):
        vec.step(np.zeros((3, 20), np.float32))
    with pytest.raises(ValueError, match=r"actions\[0\].*shape"):
        vec.step(np.zeros((4, 19), np.float32))
    vec.step(np.zeros((4, 20), np.float32))  # a good batch still steps every world
    assert [e.world.round for e in envs] == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="seed"):
        vec.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="reset options"):
        vec.reset(options={"foo": 1})
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.ones(3, bool)})
    with pytest.raises(ValueError, match="num_envs"):
        BCFLVectorEnv(num_envs=0)
    with pytest.raises(ValueError, match="autoreset_mode"):
        BCFLVectorEnv(num_envs=1, autoreset_mode="Disabled")


def test_reset_mask_resets_only_the_masked_worlds():
    vec = gym.make_vec("bcfl/IoV-v1", num_envs=3, max_rounds=10)
    vec.reset(seed=0)
    vec.step(np.zeros((3, 20), np.float32))
    obs, info = vec.reset(
        seed=[5, None, None], options={"reset_mask": np.array([True, False, False])}
    )
    rounds = [e.world.round for e in vec.unwrapped.envs]
    assert rounds == [0, 1, 1]
    single, _ = gym.make("bcfl/IoV-v1", max_rounds=10).reset(seed=5)
    np.testing.assert_array_equal(obs[0], single)
    assert list(info["_round"]) == [True, False, False]


def test_sb3_adapter_resets_in_the_same_step_and_ppo_trains_on_it():
    from stable_baselines3 import PPO

    from agents.sb3 import SlotSetPolicy
    from bcfl_env.envs.sb3_vec import SB3VecEnv, make_sb3_vec_env

    vec = make_sb3_vec_env("bcfl/IoV-v1", 2, seed=0, max_rounds=3)
    obs = vec.reset()
    assert obs.shape == (2, *vec.observation_space.shape)
    for _ in range(3):
        obs, reward, done, infos = vec.step(np.zeros((2, 20), np.float32))
    assert done.all() and reward.dtype == np.float32
    assert all(info["TimeLimit.truncated"] for info in infos)
    assert all(info["terminal_observation"].shape == obs.shape[1:] for info in infos)
    assert [e.world.round for e in vec.envs] == [0, 0]  # already reset, as SB3 expects
    assert vec.env_method("action_masks", indices=[1])[0].shape == (20,)
    assert vec.get_attr("config", indices=[0])[0].env.max_rounds == 3
    with pytest.raises(ValueError, match="SameStep"):
        SB3VecEnv(gym.make_vec("bcfl/IoV-v1", num_envs=1).unwrapped)
    model = PPO(SlotSetPolicy, vec, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(64)
    assert model.num_timesteps == 64
    vec.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_training_on_the_vector_env_resumes_exactly(tmp_path, workers):
    """bcfl train --num-envs 2: the adapter's worlds are checkpointed and restored one by one;
    checkpoints hold the worlds, not the processes, so a run cut short and resumed on two
    worker processes ends with the weights of the same run on one."""
    import shutil

    import torch
    from stable_baselines3 import PPO

    from training.train import train

    rollouts = {"n_steps": 32, "batch_size": 32}
    whole = train(
        "ppo", "bcfl/IoV-v1", 256, 3, 2, {"max_rounds": 12}, tmp_path / "a",
        checkpoint_every=128, hyperparams=rollouts,
    )  # fmt: skip
    cut = tmp_path / "cut"
    shutil.copytree(whole, cut)
    for path in cut.glob("model.*"):
        path.unlink()
    resumed = train("ppo", "bcfl/IoV-v1", None, 3, 2, {}, tmp_path, resume=cut, workers=workers)
    a = PPO.load(whole / "model.zip", device="cpu").policy.state_dict()
    b = PPO.load(resumed / "model.zip", device="cpu").policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_registered_ids_all_have_the_native_vector_entry_point():
    from bcfl_env.envs.registration import ENV_IDS

    for env_id in ENV_IDS:
        assert gym.spec(env_id).vector_entry_point == "bcfl_env.envs.vector:BCFLVectorEnv"
    assert bcfl_env.BCFLVectorEnv is BCFLVectorEnv
