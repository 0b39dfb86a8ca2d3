import json
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import bcfl_env  # noqa: F401
from agents import GreedySelector, OortSelector, PowerOfChoiceSelector, make_selector


def test_cli_train_resume_evaluate_leaderboard_audit(tmp_path):
    import os

    root = os.getcwd()
    env = {**os.environ, "PYTHONPATH": root}

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "training.cli", *a],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )

    res = run(
        "train", "--timesteps", "256", "--env-kwargs", "max_rounds=8", "--checkpoint-every", "128",
        "--hyperparams", "n_steps=128", "batch_size=64",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["algo"] == "ppo" and manifest["seed"] == 0 and "torch" in manifest["versions"]
    assert (run_dir / "config.json").is_file() and list((run_dir / "checkpoints").iterdir())
    res = run("train", "--resume", str(run_dir), "--timesteps", "384")
    assert res.returncode == 0, res.stderr
    res = run("evaluate", "--policy", "random", "--suite", "smoke")
    assert res.returncode == 0, res.stderr
    res = run(
        "evaluate", "--policy", str(run_dir / "model.zip"), "--suite", "smoke", "--label", "ppo"
    )
    assert res.returncode == 0, res.stderr
    rows = [
        json.loads(x) for x in (tmp_path / "results" / "results.jsonl").read_text().splitlines()
    ]
    assert {r["policy"] for r in rows} == {"random", "ppo"}
    res = run("leaderboard", "results/results.jsonl")
    assert res.returncode == 0 and "| random |" in res.stdout
    assert (tmp_path / "results" / "accuracy_vs_time.png").stat().st_size > 0
    bad = run("evaluate", "--policy", "nonsense", "--suite", "smoke")
    assert bad.returncode == 2 and "nonsense" in bad.stderr
    # audit a ledger written by an episode
    e = gym.make("bcfl/IoV-v1", max_rounds=3)
    e.reset(seed=0)
    for _ in range(3):
        e.step(e.action_space.sample())
    e.unwrapped.ledger.save(tmp_path / "l.sqlite")
    assert run("audit", "l.sqlite").returncode == 0


def _env_obs(seed=0):
    """An env and its first observation as (N + 1, F) rows (selectors take either layout)."""
    env = gym.make("bcfl/IoV-v1")
    obs, _ = env.reset(seed=seed)
    return env, env.unwrapped.as_matrix(obs)


COL = {name: i for i, name in enumerate(gym.make("bcfl/IoV-v1").unwrapped.feature_names)}
LOSS, SIZE, TRIP = COL["last_loss"], COL["data_size"], COL["round_trip"]


def test_greedy_rules_pick_what_they_say():
    env, obs = _env_obs()
    eligible = env.unwrapped.action_masks()
    # compute: the server knows no CPU frequency, so the fastest measured round trip
    for by, col, sign in (
        ("rate", COL["uplink_rate"], 1),
        ("data", SIZE, 1),
        ("compute", TRIP, -1),
    ):
        sel = GreedySelector(env, by=by)
        action, _ = sel.predict(obs)
        np.testing.assert_array_equal(sel.predict(obs.reshape(-1))[0], action)  # flat layout
        key = -sign * obs[:20, col][eligible]
        top = np.flatnonzero(eligible)[np.argsort(key, kind="stable")][:5]
        chosen = np.flatnonzero(eligible)[np.argsort(-action[eligible], kind="stable")][:5]
        assert set(top.tolist()) == set(chosen.tolist())


def test_power_of_choice_picks_highest_loss_candidates():
    env, obs = _env_obs()
    obs = obs.copy()
    obs[:20, LOSS] = np.linspace(0.05, 0.95, 20) * (obs[:20, 0] > 0)
    sel = PowerOfChoiceSelector(env, d=20)
    action, _ = sel.predict(obs)
    eligible = sel.eligible(obs)
    chosen = np.argsort(-np.where(eligible, action, -2))[:5]
    best = np.argsort(-np.where(eligible, obs[:20, LOSS], -1))[:5]
    assert set(chosen.tolist()) == set(best.tolist())


def test_oort_prefers_high_utility_fast_vehicles_and_explores():
    env, obs = _env_obs()
    obs = obs.copy()
    eligible = np.flatnonzero(env.unwrapped.action_masks())
    # all explored, equal data; vehicle a has high loss and is fast, b high loss but slow
    obs[:20, LOSS] = 0.2 * (obs[:20, 0] > 0)
    obs[:20, SIZE] = 0.5
    obs[:20, TRIP] = 0.3
    a, b = eligible[0], eligible[1]
    obs[a, LOSS], obs[b, LOSS] = 0.8, 0.8
    obs[b, TRIP] = 0.95
    sel = OortSelector(env, epsilon=0.0, epsilon_min=0.0)
    util = sel.utilities(obs)
    assert util[a] > util[b] > 0
    action, _ = sel.predict(obs)
    assert action[a] == action.max()
    # exploration: unexplored vehicles get slots while epsilon is high
    obs[:20, LOSS] = 0.0
    obs[a, LOSS] = 0.8
    explorer = OortSelector(env, epsilon=0.9)
    action, _ = explorer.predict(obs)
    chosen = np.argsort(-action)[:5]
    assert sum(obs[c, LOSS] == 0 for c in chosen) >= 4


def test_selectors_reject_wrong_observations():
    env, obs = _env_obs()
    with pytest.raises(ValueError, match="neither layout"):
        make_selector("random", env).predict(obs[:5])
    with pytest.raises(ValueError, match="neither layout"):
        make_selector("random", env).predict(obs.reshape(-1)[:-1])
    with pytest.raises(ValueError, match="choose one of"):
        make_selector("magic", env)


def test_slot_policy_trained_with_20_slots_runs_with_40(tmp_path):
    from stable_baselines3 import PPO

    from agents.sb3 import SlotSetPolicy, load_slot_policy

    env20 = gym.make("bcfl/IoV-v1", max_rounds=6)
    gaussian = {"distribution": "gaussian"}  # Plackett-Luce: tests/test_ranking.py
    model = PPO(
        SlotSetPolicy, env20, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu",
        policy_kwargs=gaussian,
    )  # fmt: skip
    model.learn(32)
    model.save(tmp_path / "p20.zip")
    env40 = gym.make("bcfl/IoV-v1", num_vehicles=40, max_rounds=3)
    model40 = load_slot_policy(tmp_path / "p20.zip", env40)
    obs, _ = env40.reset(seed=0)
    action, _ = model40.predict(obs, deterministic=True)
    assert action.shape == (40,) and env40.action_space.contains(action)
    env40.step(action)
    # permutation equivariance: permuting vehicle rows permutes the scores
    perm = np.random.default_rng(0).permutation(40)
    shuffled = obs.copy()
    rows = env40.unwrapped.as_matrix(shuffled)  # a view: writing rows permutes the flat vector
    rows[:40] = env40.unwrapped.as_matrix(obs)[perm]
    permuted, _ = model40.predict(shuffled, deterministic=True)
    np.testing.assert_allclose(permuted, action[perm], atol=1e-5)


def test_favor_deploys_top_k_by_q_value_and_uses_double_dqn_target():
    import torch

    from agents.favor import DoubleDQN, FavorSelector, train_favor
    from bcfl_env import BCFLEnv

    env = BCFLEnv(reward__kind="favor", max_rounds=10)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert reward == pytest.approx(64 ** (info["accuracy"] - 0.85) - 1)  # Xi^(acc - target) - 1
    model = train_favor(env, timesteps=250, learning_starts=50)
    assert isinstance(model, DoubleDQN) and model._n_updates > 0
    selector = FavorSelector(env, model=model)
    obs, _ = env.reset(seed=1)
    q = selector.q_values(obs)
    action, _ = selector.predict(obs)
    eligible = np.flatnonzero(env.action_masks())
    best = eligible[np.argsort(-q[eligible], kind="stable")][:5]
    chosen = np.argsort(-action, kind="stable")[:5]
    assert set(best.tolist()) == set(chosen.tolist())
    # the double-DQN target: the online net picks the next action, the target net values it.
    # One transition fills the buffer, so the logged loss tells which target train() used.
    from bcfl_env import with_picked_column

    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.q_net_target.parameters():
            p.add_(torch.randn_like(p))
    state = with_picked_column(env.as_matrix(obs), [], "flat")
    after = with_picked_column(env.as_matrix(obs), [int(eligible[0])], "flat")
    model.replay_buffer.reset()
    model.replay_buffer.add(
        state[None], after[None], np.array([[eligible[0]]]), np.array([0.5]), np.array([0.0]), [{}]
    )
    with torch.no_grad():
        s_t, n_t = torch.as_tensor(state[None]), torch.as_tensor(after[None])
        current = model.q_net(s_t)[0, eligible[0]]
        pick = model.q_net(n_t).argmax(dim=1, keepdim=True)
        double_target = 0.5 + model.gamma * model.q_net_target(n_t).gather(1, pick)[0, 0]
        plain_target = 0.5 + model.gamma * model.q_net_target(n_t).max()
        double_loss = torch.nn.functional.smooth_l1_loss(current, double_target).item()
        plain_loss = torch.nn.functional.smooth_l1_loss(current, plain_target).item()
    assert abs(double_loss - plain_loss) > 1e-3  # the two rules disagree on this transition
    model.train(gradient_steps=1, batch_size=4)
    assert model.logger.name_to_value["train/loss"] == pytest.approx(double_loss, rel=1e-5)


@pytest.mark.parametrize("algo", ["a2c", "sac", "td3", "dqn", "maskable_ppo"])
def test_every_algorithm_trains_and_evaluates(tmp_path, algo):
    from training.evaluate import run_episode
    from training.train import load_model, train

    run = train(algo, "bcfl/IoV-v1", 64, 0, 1, {"max_rounds": 6}, tmp_path, checkpoint_every=10_000)
    env = gym.make("bcfl/IoV-v1", max_rounds=3)
    result = run_episode(env, load_model(run / "model.zip", env), seed=5)
    assert result["rounds"] == 3


def test_ray_backend_matches_in_process(tmp_path):
    pytest.importorskip("ray")
    import glob
    import tempfile

    from training.backends import run_jobs
    from training.evaluate import evaluate_policy

    before = set(glob.glob(f"{tempfile.gettempdir()}/bcfl-ray-*"))
    local = evaluate_policy("random", "smoke", 1, tmp_path / "a.jsonl")
    remote = evaluate_policy("random", "smoke", 1, tmp_path / "b.jsonl", backend="ray")
    assert [r["curve"] for r in remote] == [r["curve"] for r in local]
    from bcfl_env.chain.crypto import sha256_hex

    assert run_jobs(sha256_hex, [(b"a",), (b"b",)], backend="ray") == [
        sha256_hex(b"a"),
        sha256_hex(b"b"),
    ]
    assert (
        set(glob.glob(f"{tempfile.gettempdir()}/bcfl-ray-*")) == before
    )  # session files cleaned up
    with pytest.raises(ValueError, match="backend"):
        run_jobs(sha256_hex, [(b"a",)], backend="dask")


def _params(run_dir):
    from stable_baselines3 import PPO

    model = PPO.load(run_dir / "model.zip", device="cpu")
    return {k: v.clone() for k, v in model.policy.state_dict().items()}


def _params_at(path):
    from stable_baselines3 import PPO

    return {k: v.clone() for k, v in PPO.load(path, device="cpu").policy.state_dict().items()}


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    import shutil

    import torch

    from training.evaluate import run_episode
    from training.train import load_model, train

    # 512 steps, so that an update with a non-zero (linearly decaying) learning rate follows the cut
    rollouts = {"n_steps": 128, "batch_size": 64}
    whole = train(
        "ppo",
        "bcfl/IoV-v1",
        512,
        3,
        1,
        {"max_rounds": 12},
        tmp_path / "a",
        checkpoint_every=256,
        hyperparams=rollouts,
    )
    assert (whole / "checkpoints" / "model_256_steps.state.json").is_file()
    assert (whole / "checkpoints" / "model_256_steps.state.npz").is_file()
    # an interrupted copy: everything after the 256-step checkpoint is lost
    cut = tmp_path / "cut"
    shutil.copytree(whole, cut)
    for path in cut.glob("model.*"):
        path.unlink()
    resumed = train("ppo", "bcfl/IoV-v1", None, 3, 1, {}, tmp_path, resume=cut)
    a, b = _params(whole), _params(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    before = _params_at(whole / "checkpoints" / "model_256_steps.zip")
    assert not all(torch.equal(a[k], before[k]) for k in a)  # training did happen after the cut
    # and so the next evaluations agree exactly
    env = gym.make("bcfl/IoV-v1", max_rounds=5)
    first = run_episode(env, load_model(whole / "model.zip", env), seed=9)
    second = run_episode(env, load_model(resumed / "model.zip", env), seed=9)
    assert first["curve"] == second["curve"] and first["return"] == second["return"]


def test_resume_refuses_a_corrupt_checkpoint(tmp_path):
    from training.train import train

    run = train(
        "ppo", "bcfl/IoV-v1", 128, 0, 1, {"max_rounds": 6}, tmp_path, checkpoint_every=10_000
    )
    (run / "model.state.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot resume"):
        train("ppo", "bcfl/IoV-v1", 256, 0, 1, {}, tmp_path, resume=run)


def test_leaderboard_statistics_and_files(tmp_path):
    from training.leaderboard import build_leaderboard, iqm

    rng = np.random.default_rng(0)
    lines = []
    for policy, scale in (("fast", 50.0), ("slow", 100.0)):
        for scenario, factor in (("s1", 1.0), ("s2", 3.0)):
            for seed in range(8):
                t = float(scale * factor * rng.uniform(0.8, 1.2))
                lines.append(json.dumps({
                    "policy": policy, "scenario": scenario, "seed": seed, "return": 1.0, "time_to_target_s": t,
                    "rounds_to_target": 5, "final_accuracy": 0.9, "sim_time_s": t, "rounds": 5, "energy_j": 1.0,
                    "poisoned_accepted": 0, "curve": [[0.0, 0.1], [t, 0.9]],
                }))  # fmt: skip
    results = tmp_path / "r.jsonl"
    results.write_text("\n".join(lines))
    table = build_leaderboard([results], tmp_path, {"s1": (75.0, 1000.0), "s2": (225.0, 1000.0)})
    rows = {(r["policy"], r["scenario"]): r for r in table}
    fast, slow = rows[("fast", "ALL")], rows[("slow", "ALL")]
    assert fast["normalised_time_iqm"] < slow["normalised_time_iqm"]
    assert fast["normalised_ci_high"] < slow["normalised_ci_low"]  # clearly separated
    assert fast["normalised_ci_low"] <= fast["normalised_time_iqm"] <= fast["normalised_ci_high"]
    s1 = rows[("fast", "s1")]
    assert s1["time_ci_low"] <= s1["time_to_target_iqm_s"] <= s1["time_ci_high"]
    assert iqm(np.array([0.0, 1.0, 2.0, 3.0, 100.0, -100.0, 1.5, 2.5])) == pytest.approx(1.75)
    for name in (
        "leaderboard.md",
        "leaderboard.csv",
        "leaderboard.json",
        "accuracy_vs_time.png",
        "performance_profiles.png",
    ):
        assert (tmp_path / name).stat().st_size > 0


def test_chain_metrics_callback_logs_fl_and_chain_metrics():
    from stable_baselines3 import PPO

    from training.train import ChainMetricsCallback

    env = gym.make("bcfl/IoV-v1", max_rounds=40)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    seen: dict = {}

    class Spy(ChainMetricsCallback):
        def _on_step(self) -> bool:
            ok = super()._on_step()
            seen.update(self.logger.name_to_value)
            return ok

    model.learn(64, callback=Spy())
    for key in (
        "fl/accuracy",
        "chain/rejected",
        "chain/consensus_s",
        "reward/accuracy",
        "reward/latency",
    ):
        assert key in seen
    assert 0 < seen["chain/consensus_s"] < 1 and 0 < seen["fl/accuracy"] <= 1


def test_learning_curve_png_from_a_run(tmp_path):
    from training.plots import learning_curve
    from training.train import train

    run = train(
        "ppo", "bcfl/IoV-v1", 128, 0, 1, {"max_rounds": 4}, tmp_path, checkpoint_every=10_000
    )
    png = learning_curve(run, tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="TensorBoard"):
        learning_curve(tmp_path, tmp_path / "none.png")


def test_favor_trains_once_per_configuration_and_rejects_corrupt_models(tmp_path):
    from agents.favor import FavorSelector

    env = gym.make("bcfl/IoV-v1", max_rounds=5)
    a = FavorSelector(env, timesteps=120, seed=1)
    b = FavorSelector(env, timesteps=120, seed=2)
    assert a.model is b.model
    bad = tmp_path / "favor.zip"
    bad.write_bytes(b"PK-not-a-zip")
    with pytest.raises(ValueError, match="not a readable"):
        FavorSelector(env, model=bad)
    from training.train import load_model

    # a manifest without env_id: the hyperparameters are the entry of the env the model is
    # loaded into, with no warning about an entry for ""
    (tmp_path / "manifest.json").write_text(json.dumps({"algo": "ppo"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="not a readable ppo model"):
            load_model(bad, env)


def test_a_saved_favor_model_loads_safely_and_acts_as_it_did(tmp_path):
    from agents.favor import FavorSelector

    env = gym.make("bcfl/IoV-v1", max_rounds=5)
    trained = FavorSelector(env, timesteps=120, seed=3, train_seed=7)
    path = tmp_path / "favor.zip"
    trained.model.save(path)
    loaded = FavorSelector(env, model=path)
    obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(loaded.predict(obs)[0], trained.predict(obs)[0])
    np.testing.assert_allclose(loaded.q_values(obs), trained.q_values(obs), rtol=1e-6)


def test_random_selector_is_uniform_over_eligible_vehicles():
    env, obs = _env_obs()
    selector = make_selector("random", env, seed=0)
    eligible = selector.eligible(obs)
    counts = np.zeros(20)
    for _ in range(2000):
        action, _ = selector.predict(obs)
        counts[np.argsort(-action, kind="stable")[:5]] += 1
    assert counts[~eligible].sum() == 0
    share = counts[eligible] / counts[eligible].sum()
    expected = 1 / eligible.sum()
    assert np.all(
        np.abs(share - expected) < 0.25 * expected
    )  # every eligible slot about equally often
