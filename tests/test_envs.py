import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import bcfl_env
from bcfl_env.chain import Ledger, LedgerIntegrityError


@pytest.mark.parametrize("env_id", list(bcfl_env.ENV_IDS))
def test_checkers_pass(env_id):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, max_rounds=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)
        sb3_check_env(bcfl_env.DiscreteSelection(gym.make(env_id, max_rounds=4)))
    assert [str(w.message) for w in caught] == []


def test_matrix_layout_holds_the_same_numbers_as_the_flat_default():
    flat = gym.make("bcfl/IoV-v1", max_rounds=5)
    matrix = gym.make("bcfl/IoV-v1", max_rounds=5, observation_layout="matrix")
    assert flat.observation_space.shape == (21 * 11,)
    assert matrix.observation_space.shape == (21, 11)
    a, _ = flat.reset(seed=4)
    b, _ = matrix.reset(seed=4)
    for _ in range(3):
        rows = flat.unwrapped.as_matrix(a)
        assert rows.shape == (21, 11) and np.array_equal(rows, b)
        assert np.array_equal(matrix.unwrapped.as_matrix(b), b)
        assert rows[:20, 0].sum() > 0 and rows[20, 1] == flat.unwrapped.world.fl.accuracy
        action = np.linspace(-1, 1, 20, dtype=np.float32)
        a, *_ = flat.step(action)
        b, *_ = matrix.step(action)
    batch = flat.unwrapped.as_matrix(np.stack([a, a, a]))
    assert batch.shape == (3, 21, 11)
    with pytest.raises(ValueError, match=r"allowed \(231,\) or \(21, 11\)"):
        flat.unwrapped.as_matrix(a[:-1])
    with pytest.raises(ValueError, match="observation_layout"):
        gym.make("bcfl/IoV-v1", observation_layout="graph")


@pytest.mark.parametrize("env_id", list(bcfl_env.ENV_IDS))
def test_observations_stay_in_space(env_id):
    env = gym.make(env_id, max_rounds=8)
    obs, _ = env.reset(seed=3)
    env.action_space.seed(3)
    assert env.observation_space.contains(obs)
    for _ in range(8):
        obs, reward, term, trunc, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert np.isfinite(reward)
        if term or trunc:
            break


def rollout(seed: int, steps: int = 20, **kw):
    env = gym.make("bcfl/IoV-v1", **kw)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = [obs]
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        trace.append((obs, r, info))
        if term or trunc:
            break
    return trace, env


def test_same_seed_identical_rollouts_and_different_seed_differs():
    # seed-derived keys, so that even the ledgers of two instances are identical (with the default
    # secret keys only hashes and signatures differ: tests/test_keys.py)
    a, env_a = rollout(5, max_rounds=20, target_accuracy=0.99, chain__key_source="seed")
    b, env_b = rollout(5, max_rounds=20, target_accuracy=0.99, chain__key_source="seed")
    c, _ = rollout(6, max_rounds=20, target_accuracy=0.99)
    assert len(a) == len(b) == 21
    assert np.array_equal(a[0], b[0])
    for (oa, ra, ia), (ob, rb, ib) in zip(a[1:], b[1:], strict=False):
        assert np.array_equal(oa, ob) and ra == rb and ia == ib
    assert env_a.unwrapped.ledger.head_hash == env_b.unwrapped.ledger.head_hash
    ga, gb = env_a.unwrapped.world.fl.global_params, env_b.unwrapped.world.fl.global_params
    assert ga.equal(gb)
    assert not np.array_equal(a[0], c[0])


def test_accounting_invariant_under_attack_handover_and_faulty_committee():
    env = gym.make(
        "bcfl/IoV-v1",
        malicious_fraction=0.25,
        faulty_fraction=0.25,
        faulty_behavior="random",
        max_rounds=60,
        target_accuracy=0.999,
        network__mobility__departure_prob=0.6,
        network__mobility__arrival_rate_per_s=0.5,
    )
    env.reset(seed=11)
    env.action_space.seed(11)
    open_jobs: set[int] = set()
    outcomes = {"accepted": 0, "rejected": 0, "dropped": 0}
    reasons = set()
    for _ in range(60):
        _, _, term, trunc, info = env.step(env.action_space.sample())
        resolved = (
            info["accepted"] + [i for i, _ in info["rejected"]] + [i for i, _ in info["dropped"]]
        )
        # each identity resolves at most once per step, and only if it had work
        assert len(resolved) == len(set(resolved))
        started = set(info["selected_ids"]) | open_jobs
        assert set(resolved) <= started
        assert set(info["in_flight"]).isdisjoint(resolved)
        assert started == set(resolved) | set(info["in_flight"])  # nothing lost silently
        open_jobs = set(info["in_flight"])
        outcomes["accepted"] += len(info["accepted"])
        outcomes["rejected"] += len(info["rejected"])
        outcomes["dropped"] += len(info["dropped"])
        reasons |= {r for _, r in info["dropped"]} | {r for _, r in info["rejected"]}
        if term or trunc:
            break
    assert all(v > 0 for v in outcomes.values())
    assert reasons & {"handover", "coverage", "departure"}
    assert "low_quality" in reasons


def test_ledger_verifies_after_episode_and_detects_a_flipped_byte(tmp_path):
    import sqlite3

    _, env = rollout(2, steps=10)
    ledger = env.unwrapped.ledger
    ledger.verify()
    path = tmp_path / "episode.sqlite"
    ledger.save(path)
    assert Ledger.load(path, verify=True).head_hash == ledger.head_hash
    con = sqlite3.connect(path)
    (body,) = con.execute("SELECT body FROM txs WHERE height=5 AND idx=0").fetchone()
    flipped = bytearray(body)
    flipped[len(flipped) // 2] ^= 0x10
    con.execute("UPDATE txs SET body=? WHERE height=5 AND idx=0", (bytes(flipped),))
    con.commit()
    con.close()
    with pytest.raises(LedgerIntegrityError, match="block 5"):
        Ledger.load(path, verify=True)


@pytest.mark.parametrize(
    ("action", "needle"),
    [
        (np.zeros(5, dtype=np.float32), "shape"),
        (np.zeros((20, 1), dtype=np.float32), "shape"),
        (np.zeros(20, dtype=np.int64), "dtype"),
        (np.full(20, np.nan, dtype=np.float32), "NaN"),
        (np.full(20, 1.5, dtype=np.float32), r"\[-1, 1\]"),
    ],
)
def test_bad_actions_raise(action, needle):
    env = gym.make("bcfl/IoV-v1")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=needle):
        env.step(action)


def test_step_before_reset_is_refused():
    env = bcfl_env.BCFLEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(20, dtype=np.float32))


def test_top_k_scores_select_the_best_eligible_slots():
    env = gym.make("bcfl/IoV-v1")
    env.reset(seed=0)
    mask = env.unwrapped.action_masks()
    scores = np.linspace(-1, 1, 20).astype(np.float32)
    _, _, _, _, info = env.step(scores)
    expected = sorted(np.flatnonzero(mask)[np.argsort(-scores[mask], kind="stable")][:5].tolist())
    assert info["selected"] == expected


def test_binary_mode_truncates_to_budget_and_reports_ignored():
    env = gym.make("bcfl/IoV-v1", action_mode="binary")
    env.reset(seed=0)
    mask = env.unwrapped.action_masks()
    _, _, _, _, info = env.step(np.ones(20, dtype=np.int8))
    eligible = np.flatnonzero(mask)
    assert info["selected"] == eligible[:5].tolist()
    assert set(info["ignored"]) == set(range(20)) - set(eligible[:5].tolist())
    with pytest.raises(ValueError, match="0 or 1"):
        env.step(np.full(20, 2, dtype=np.int8))


def test_discrete_wrapper_builds_a_selection_pick_by_pick():
    env = bcfl_env.DiscreteSelection(gym.make("bcfl/IoV-v1"))
    obs, _ = env.reset(seed=0)
    assert env.action_space.n == 21 and obs.shape == (21 * 12,)
    assert env.as_matrix(obs)[:, -1].sum() == 0.0
    eligible = np.flatnonzero(env.unwrapped.action_masks())
    obs, reward, _, _, info = env.step(int(eligible[0]))
    rows = env.as_matrix(obs)
    assert reward == 0.0 and info["picked"] == [int(eligible[0])] and rows[eligible[0], -1] == 1.0
    assert rows[:, -1].sum() == 1.0
    _, _, _, _, info = env.step(20)  # done: run with one vehicle
    assert info["selected"] == [int(eligible[0])]


def test_render_modes():
    env = gym.make("bcfl/IoV-v1", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8 and frame.std() > 0
    text = gym.make("bcfl/IoV-v1", render_mode="ansi")
    text.reset(seed=0)
    assert "accuracy" in text.render()


def test_random_policy_reaches_target_on_iov_default():
    env = gym.make("bcfl/IoV-v1")
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(env.unwrapped.config.env.max_rounds):
        _, _, term, trunc, info = env.step(env.action_space.sample())
        if term or trunc:
            break
    assert term and info["accuracy"] >= 0.85


def test_ioht_reports_epsilon_and_iiot_is_static():
    env = gym.make("bcfl/IoHT-v1")
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert 0 < info["epsilon"] < float("inf")
    iiot = gym.make("bcfl/IIoT-v1")
    iiot.reset(seed=0)
    before = iiot.unwrapped.world.network.positions().copy()
    iiot.step(iiot.action_space.sample())
    assert np.array_equal(before, iiot.unwrapped.world.network.positions())


def test_make_vec_and_fresh_subprocess():
    results = {}
    for mode in ("sync", "async"):
        vec = gym.make_vec("bcfl/IoV-v1", num_envs=2, vectorization_mode=mode, max_rounds=3)
        obs, _ = vec.reset(seed=0)
        assert obs.shape == (2, 21 * 11)
        action = np.tile(np.linspace(-1, 1, 20, dtype=np.float32), (2, 1))
        obs, reward, _, _, _ = vec.step(action)
        results[mode] = (obs, reward)
        vec.close()
    np.testing.assert_array_equal(results["sync"][0], results["async"][0])
    np.testing.assert_array_equal(results["sync"][1], results["async"][1])
    code = "import gymnasium as gym; e = gym.make('bcfl_env:bcfl/IoV-v1'); e.reset(seed=0); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_sb3_subproc_vec_env_and_ppo_smoke():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    # "module:id" makes each fresh worker process import bcfl_env (and so register the ids)
    vec = make_vec_env(
        "bcfl_env:bcfl/IoV-v1", n_envs=2, vec_env_cls=SubprocVecEnv, env_kwargs={"max_rounds": 8}
    )
    model = PPO("MlpPolicy", vec, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(64)
    vec.close()


@pytest.mark.parametrize("env_id", list(bcfl_env.ENV_IDS))
def test_ppo_trains_a_few_thousand_steps_on_every_preset(env_id):
    from stable_baselines3 import PPO

    from agents.sb3 import SlotSetPolicy

    env = gym.make(env_id, max_rounds=20)
    model = PPO(
        SlotSetPolicy,
        env,
        n_steps=512,
        batch_size=128,
        n_epochs=2,
        seed=0,
        device="cpu",
        policy_kwargs={"distribution": "plackett-luce"},
    )
    model.learn(2048)
    assert model.num_timesteps == 2048 and model._n_updates == 8
    # every episode ends within 20 rounds, so at least 100 ended (the buffer keeps the last 100)
    assert len(model.ep_info_buffer) == 100
    env.unwrapped.ledger.verify()  # the chain of the episode in progress is intact


def test_contract_rules_refuse_vehicles_with_low_reputation():
    env = gym.make(
        "bcfl/IoHT-v1",
        malicious_fraction=0.3,
        attack="sign_flip",
        max_rounds=40,
        target_accuracy=0.999,
    )
    env.reset(seed=0)
    world = env.unwrapped.world
    env.action_space.seed(0)
    for _ in range(40):
        env.step(env.action_space.sample())
    reps = np.array([world.chain.reputation.score(v) for v in world.vehicle_ids])
    low = reps < 0.3
    assert low.any() and world.fl.malicious[low].all()  # only attackers fell below the bar
    ids = world.network.slot_identity
    present_low = [
        s
        for s in range(world.num_slots)
        if ids[s] >= 0 and low[ids[s]] and world.network.present[s]
    ]
    mask = env.unwrapped.action_masks()
    assert all(not mask[s] for s in present_low)


def test_disabling_quality_verification_lets_poison_through():
    def poisoned(verify: bool) -> float:
        env = gym.make("bcfl/IoV-v1", malicious_fraction=0.3, chain__verify_quality=verify, max_rounds=15,
                       target_accuracy=0.999)  # fmt: skip
        env.reset(seed=0)
        env.action_space.seed(0)
        accepted = rejected = 0
        for _ in range(15):
            info = env.step(env.action_space.sample())[4]
            accepted += info["poisoned_accepted"]
            rejected += info["poisoned_rejected"]
        assert accepted + rejected >= 10
        return accepted / (accepted + rejected)

    assert poisoned(True) <= 0.1 and poisoned(False) >= 0.9


def test_async_staleness_counts_updates_as_in_fedasync():
    """Each accepted update is its own global version, so a batch's later updates and slow
    vehicles' late work are stale (Xie et al., 2019)."""
    env = gym.make("bcfl/IoV-v1", max_rounds=20, target_accuracy=1.0)
    env.reset(seed=0)
    world = env.unwrapped.world
    staleness, versions = [], []
    for _ in range(20):
        mask = env.unwrapped.action_masks()
        ids = np.maximum(world.network.slot_identity, 0)
        slowness = np.where(mask, -world.network.cpu_hz[ids], -np.inf)  # slowest first (harness)
        action = np.zeros(env.action_space.shape, dtype=np.float32)
        action[np.argsort(slowness)[::-1][: env.unwrapped.budget]] = 1.0
        before = world.fl.version
        info = env.step(action)[4]
        staleness += info["staleness"]
        versions.append(world.fl.version - before)
        assert world.fl.version - before == len(info["accepted"])  # one version per update
    assert len(staleness) >= 20
    assert np.mean(np.array(staleness) >= 1) >= 0.3
    env.unwrapped.ledger.verify()


def test_the_latency_term_depends_on_the_selection():
    """Fastest-first keeps vehicles busy for less time than slowest-first on the same seed."""

    def latency(order):
        env = gym.make("bcfl/IoV-v1", max_rounds=10, target_accuracy=1.0)
        env.reset(seed=3)
        world = env.unwrapped.world
        total = 0.0
        for _ in range(6):
            mask = env.unwrapped.action_masks()
            net, cfg = world.network, world.cfg
            ids = np.maximum(net.slot_identity, 0)
            compute_s = (  # the harness may use true values; the agent does not
                world.fl.sizes[ids]
                * cfg.fl.local_epochs
                * cfg.network.compute.cycles_per_sample
                / net.cpu_hz[ids]
            )
            rates = net.rates_bps(world.uploads.sharers(net.serving, net.infra.num_rsus))
            trip = compute_s + world.payload_bits / np.maximum(rates, 1.0)
            speed = np.where(mask, -order * trip, -np.inf)
            action = np.zeros(env.action_space.shape, dtype=np.float32)
            action[np.argsort(speed)[::-1][: env.unwrapped.budget]] = 1.0
            info = env.step(action)[4]
            total += info["rewards"]["latency"]
            assert info["epoch_s"] >= 5.0  # the epoch itself is fixed
        return total

    fastest, slowest = latency(+1.0), latency(-1.0)
    assert fastest > slowest  # a smaller cost (terms are negative)
    assert abs(fastest - slowest) > 0.05 * abs(slowest)


def test_the_default_observation_holds_no_oracle_feature():
    env = gym.make("bcfl/IoV-v1")
    names = set(env.unwrapped.feature_names)
    assert not names & {"cpu_frequency", "label_entropy", "true_round_trip"}
    from bcfl_env.envs.observation import FEATURE_SETS

    assert all(src != "oracle" for _, _, src in FEATURE_SETS["server"])
    oracle = gym.make("bcfl/IoV-v1", observation_features="oracle")
    assert {"cpu_frequency", "label_entropy", "true_round_trip"} <= set(
        oracle.unwrapped.feature_names
    )
    obs, _ = oracle.reset(seed=0)
    assert oracle.observation_space.contains(obs)


def test_feature_tables_in_docstring_and_docs_match_the_feature_lists():
    import re
    from pathlib import Path

    from bcfl_env.envs.core import BCFLEnv
    from bcfl_env.envs.features import features_for
    from bcfl_env.envs.observation import ORACLE_FEATURES

    expected = [(str(i), name, src) for i, (name, _, src) in enumerate(ORACLE_FEATURES)]
    # then the DAG table: the columns chain.dag=True adds after the server set
    server = len(features_for("server"))
    expected += [
        (str(server + i), f.name, f.source)
        for i, f in enumerate(features_for("server", dag=True)[server:])
    ]
    doc_rows = re.findall(
        r"^\s*\| (\d+)\s*\| (\w+)\s*\| [^|]+\| (\w[\w-]*)\s*\| 0", BCFLEnv.__doc__, re.M
    )
    assert doc_rows == expected
    md = (Path(__file__).parents[1] / "docs" / "mdp.md").read_text()
    md_rows = re.findall(r"^\| (\d+) \| (\w+) \| [^|]+ \| ([\w-]+) \|$", md, re.M)
    assert md_rows == expected


def test_reported_values_can_lie_and_measured_round_trips_appear():
    env = gym.make("bcfl/IoV-v1", malicious_fraction=0.5, misreport_factor=4.0, target_accuracy=1.0)
    env.reset(seed=0)
    world = env.unwrapped.world
    bad = world.fl.malicious
    assert (world.record.reported_sizes[bad] >= 3 * world.fl.sizes[bad]).all()
    assert (world.record.reported_sizes[~bad] == world.fl.sizes[~bad]).all()
    for _ in range(4):
        env.step(env.action_space.sample())
    assert np.isfinite(world.record.round_trip_s).sum() >= 3
    rows = env.unwrapped.as_matrix(env.unwrapped._observe())
    col = env.unwrapped.feature_names.index("round_trip")
    assert set(np.round(rows[:-1, col], 3)) - {0.0, 0.5}  # some measured, not all neutral


def test_restore_replays_actions_of_any_dtype_exactly():
    env = gym.make("bcfl/IoV-v1", max_rounds=10)
    env.reset(seed=2)
    env.step(np.linspace(-1, 1, 20).astype(np.float16))
    # float32 scores that only float32 tells apart: replayed as float16 they tie, and the tie
    # goes to the lower slot, so the selection (and everything after it) would differ
    eligible = np.flatnonzero(env.unwrapped.action_masks())
    action = np.full(20, -1.0, dtype=np.float32)
    action[eligible[:4]] = 0.9
    low, high = eligible[4], eligible[5]
    action[low], action[high] = 0.5, 0.5 + 1e-4
    env.step(action)
    assert high in env.unwrapped._last_selected and low not in env.unwrapped._last_selected
    snapshot = env.unwrapped.snapshot()
    expected = env.unwrapped._observe()
    twin = gym.make("bcfl/IoV-v1", max_rounds=10)
    twin.reset(seed=99)
    assert np.array_equal(twin.unwrapped.restore(snapshot), expected)


def test_discrete_wrapper_counters_reset_with_the_episode():
    env = bcfl_env.DiscreteSelection(gym.make("bcfl/IoV-v1", max_rounds=3))
    env.reset(seed=0)
    info = {}
    for _ in range(6):
        info = env.step(0)[4]  # picking slot 0 again and again: invalid after the first
    assert info.get("invalid_picks", 0) > 0
    env.reset(seed=1)
    first = env.step(env.unwrapped.num_slots)[4]  # "done" at once: a whole decision, no mistake
    assert first["invalid_picks"] == 0


def test_action_masks_reach_through_gym_make_and_fit_the_binary_mode():
    """MaskablePPO reads action_masks() from the env it is given: it must work on what
    ``gymnasium.make`` returns, and a MultiBinary(N) action needs [off, on] per slot (2N)."""
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks

    env = gym.make("bcfl/IoV-v1", max_rounds=4)
    env.reset(seed=0)
    assert env.action_masks().shape == (20,)  # not only env.unwrapped
    assert np.array_equal(env.action_masks(), env.unwrapped.eligible_slots())
    binary = gym.make("bcfl/IoV-v1", action_mode="binary", max_rounds=4)
    binary.reset(seed=0)
    mask = get_action_masks(binary)
    eligible = binary.unwrapped.eligible_slots()
    assert mask.shape == (40,)
    assert np.array_equal(mask.reshape(20, 2), np.stack([np.ones(20, bool), eligible], axis=1))
    model = MaskablePPO("MlpPolicy", binary, n_steps=64, batch_size=32, seed=0, device="cpu")
    model.learn(128)  # crashed before: shape '[-1, 40]' is invalid for input of size 20


def test_weights_mode_selects_by_a_weighted_sum_of_the_observed_features():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("bcfl/IoV-v1", action_mode="weights", max_rounds=4)
    base = env.unwrapped
    assert env.action_space.shape == (base.num_features,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(base, skip_render_check=True)
    assert [str(w.message) for w in caught] == []
    obs, _ = env.reset(seed=0)
    # weigh reported data size up and reputation down, reputation's weight the larger
    weights = np.zeros(base.num_features, dtype=np.float32)
    weights[base.feature_names.index("data_size")] = 0.5
    weights[base.feature_names.index("reputation")] = -1.0
    unscaled_differs = False
    for _ in range(3):
        rows = base.as_matrix(obs)[:-1].astype(np.float64)
        candidates = np.flatnonzero(base.eligible_slots())
        # each feature in units of its spread among the candidates: a weight's pull on the
        # ranking does not depend on how widely the feature happens to vary, and a feature
        # every candidate shares (present, in_flight) adds nothing
        spread = rows[candidates].std(axis=0)
        z = (rows - rows[candidates].mean(axis=0)) / np.where(spread > 1e-9, spread, np.inf)

        expected, unscaled = (
            sorted(candidates[np.argsort(-score[candidates], kind="stable")][:5].tolist())
            for score in (z @ weights.astype(np.float64), rows @ weights.astype(np.float64))
        )
        unscaled_differs |= expected != unscaled
        obs, _, _, _, info = env.step(weights)
        assert info["selected"] == expected
    # the scaling matters on this seed: the raw weighted sum would have picked other slots
    assert unscaled_differs
    with pytest.raises(ValueError, match=r"shape \(11,\)"):
        env.step(np.zeros(20, dtype=np.float32))
    with pytest.raises(ValueError, match="scores' or 'binary"):
        base.action_masks()
    from agents import make_selector

    with pytest.raises(ValueError, match="not 'weights'"):
        make_selector("oort", env)
    # restore replays weights actions exactly
    snap = base.snapshot()
    again = gym.make("bcfl/IoV-v1", action_mode="weights", max_rounds=4).unwrapped
    np.testing.assert_array_equal(again.restore(snap), obs)


def test_reset_refuses_options_it_would_ignore():
    env = gym.make("bcfl/IoV-v1")
    env.reset(seed=0, options={})
    with pytest.raises(ValueError, match="reset options are not supported"):
        env.reset(seed=0, options={"num_vehicles": 3})


def test_the_env_uses_its_own_thread_count_and_gives_the_callers_back():
    import torch

    seen = []

    def spy_on(env):
        world = env.unwrapped.world
        inner = world.step

        def step(slots):
            seen.append(torch.get_num_threads())  # what the env's torch work runs with
            return inner(slots)

        world.step = step

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        env = gym.make("bcfl/IoV-v1", max_rounds=3)
        env.reset(seed=0)
        spy_on(env)
        env.step(env.action_space.sample())
        assert seen == [1] and torch.get_num_threads() == 2
        free = gym.make("bcfl/IoV-v1", max_rounds=3, torch_threads=None)
        free.reset(seed=0)
        spy_on(free)
        free.step(free.action_space.sample())
        assert seen == [1, 2]
    finally:
        torch.set_num_threads(before)


def test_the_reputation_column_is_the_chains_reputation_after_every_step():
    """The world caches reputations per identity and refreshes only those the chain recorded."""
    env = gym.make("bcfl/IoV-v1", malicious_fraction=0.3, max_rounds=8, target_accuracy=1.0)
    base = env.unwrapped
    obs, _ = env.reset(seed=5)
    col = base.feature_names.index("reputation")
    changed = False
    for _ in range(8):
        obs, *_ = env.step(env.action_space.sample())
        world = base.world
        ids = world.network.slot_identity
        present = world.network.present & (ids >= 0)
        rows = base.as_matrix(obs)[:-1]
        expected = [world.chain.reputation.score(world.vehicle_ids[i]) for i in ids[present]]
        assert rows[present, col] == pytest.approx(expected, abs=1e-6)
        changed |= bool((rows[present, col] != 0.5).any())
    assert changed, "reputations moved during the episode"
