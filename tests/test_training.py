import json
import subprocess
import sys

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
        )  # noqa: E731

    res = run(
        "train", "--timesteps", "64", "--env-kwargs", "max_rounds=8", "--checkpoint-every", "32"
    )
    assert res.returncode == 0, res.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["algo"] == "ppo" and manifest["seed"] == 0 and "torch" in manifest["versions"]
    assert (run_dir / "config.json").is_file() and list((run_dir / "checkpoints").iterdir())
    res = run("train", "--resume", str(run_dir), "--timesteps", "96")
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
    e = gym.make("bcfl/IoV-v0", max_rounds=3)
    e.reset(seed=0)
    for _ in range(3):
        e.step(e.action_space.sample())
    e.unwrapped.ledger.save(tmp_path / "l.sqlite")
    assert run("audit", "l.sqlite").returncode == 0


def _env_obs(seed=0):
    env = gym.make("bcfl/IoV-v0")
    obs, _ = env.reset(seed=seed)
    return env, obs


def test_greedy_rules_pick_what_they_say():
    env, obs = _env_obs()
    eligible = env.unwrapped.action_masks()
    for by, col in (("rate", 2), ("data", 4), ("compute", 3)):
        sel = GreedySelector(env, by=by)
        action, _ = sel.predict(obs)
        top = np.flatnonzero(eligible)[np.argsort(-obs[:20, col][eligible], kind="stable")][:5]
        chosen = np.flatnonzero(eligible)[np.argsort(-action[eligible], kind="stable")][:5]
        assert set(top.tolist()) == set(chosen.tolist())


def test_power_of_choice_picks_highest_loss_candidates():
    env, obs = _env_obs()
    obs = obs.copy()
    obs[:20, 11] = np.linspace(0.05, 0.95, 20) * (obs[:20, 0] > 0)
    sel = PowerOfChoiceSelector(env, d=20)
    action, _ = sel.predict(obs)
    eligible = sel.eligible(obs)
    chosen = np.argsort(-np.where(eligible, action, -2))[:5]
    best = np.argsort(-np.where(eligible, obs[:20, 11], -1))[:5]
    assert set(chosen.tolist()) == set(best.tolist())


def test_oort_prefers_high_utility_fast_vehicles_and_explores():
    env, obs = _env_obs()
    obs = obs.copy()
    eligible = np.flatnonzero(env.unwrapped.action_masks())
    # all explored, equal data; vehicle a has high loss and is fast, b high loss but slow
    obs[:20, 11] = 0.2 * (obs[:20, 0] > 0)
    obs[:20, 4] = 0.5
    obs[:20, 12] = 0.3
    a, b = eligible[0], eligible[1]
    obs[a, 11], obs[b, 11] = 0.8, 0.8
    obs[b, 12] = 0.95
    sel = OortSelector(env, epsilon=0.0, epsilon_min=0.0)
    util = sel.utilities(obs)
    assert util[a] > util[b] > 0
    action, _ = sel.predict(obs)
    assert action[a] == action.max()
    # exploration: unexplored vehicles get slots while epsilon is high
    obs[:20, 11] = 0.0
    obs[a, 11] = 0.8
    explorer = OortSelector(env, epsilon=0.9)
    action, _ = explorer.predict(obs)
    chosen = np.argsort(-action)[:5]
    assert sum(obs[c, 11] == 0 for c in chosen) >= 4


def test_selectors_reject_wrong_observations():
    env, obs = _env_obs()
    with pytest.raises(ValueError, match="rows"):
        make_selector("random", env).predict(obs[:5])
    with pytest.raises(ValueError, match="choose one of"):
        make_selector("magic", env)
