"""Run policies on a scenario suite and write per-episode results as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym

import bcfl_env  # registers the ids
from agents import SELECTORS, Selector, make_selector
from training.suite import SUITE_VERSION, SUITES, Scenario

__all__ = ["default_label", "evaluate_policy", "load_policy", "run_episode"]


def load_policy(
    policy: str, env: gym.Env[Any, Any], seed: int, unsafe_load: bool = False
) -> Selector:
    """A baseline by name, or a trained SB3 model from a ``.zip`` path (loaded safely unless
    ``unsafe_load``: see :mod:`agents.safe_load`)."""
    if policy in SELECTORS:
        return make_selector(policy, env, seed=seed)
    path = Path(policy)
    if not path.exists():
        raise ValueError(
            f"policy {policy!r} is neither a baseline ({sorted(SELECTORS)}) nor an existing model file"
        )
    from training.train import load_model

    return load_model(path, env, unsafe=unsafe_load)


def run_episode(env: gym.Env[Any, Any], policy: Selector, seed: int) -> dict[str, Any]:
    obs, info = env.reset(seed=seed)
    target = env.unwrapped.config.env.target_accuracy  # type: ignore[attr-defined]
    total, energy, poisoned = 0.0, 0.0, 0
    curve = [(0.0, float(info["accuracy"]))]
    time_to_target = rounds_to_target = None
    while True:
        action, _ = policy.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        energy += info["energy_j"]
        poisoned += info["poisoned_accepted"]
        curve.append((info["sim_time_s"], info["accuracy"]))
        if info["accuracy"] >= target and time_to_target is None:
            time_to_target, rounds_to_target = info["sim_time_s"], info["round"]
        if terminated or truncated:
            break
    return {
        "return": total,
        "time_to_target_s": time_to_target,
        "rounds_to_target": rounds_to_target,
        "final_accuracy": info["accuracy"],
        "sim_time_s": info["sim_time_s"],
        "rounds": info["round"],
        "energy_j": energy,
        "poisoned_accepted": poisoned,
        "curve": curve,
    }


def default_label(policy: str) -> str:
    """A baseline's name, or for a model file its run folder's name when the folder is a run
    (``runs/bcfl-IoV-v1__ppo__0__<stamp>/model.zip``), else the file's stem."""
    if policy in SELECTORS:
        return policy
    path = Path(policy)
    if (path.parent / "manifest.json").is_file():
        return path.parent.name
    return path.stem


def evaluate_policy(
    policy: str,
    suite: str,
    episodes: int | None,
    out: Path,
    label: str | None = None,
    backend: str = "inprocess",
    address: str | None = None,
    unsafe_load: bool = False,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Run ``policy`` on every scenario and held-out seed of ``suite``; append JSON lines to ``out``.

    With ``backend='ray'`` each episode is a Ray task (local cluster, or the one at ``address``).
    ``label`` defaults to :func:`default_label`. ``progress``: a bar per episode on stderr (default:
    when stderr is a terminal).
    """
    from training.backends import run_jobs
    from training.progress import progress_enabled

    if suite not in SUITES:
        raise ValueError(f"suite {suite!r} is not allowed: choose one of {sorted(SUITES)}")
    if episodes is not None and episodes < 1:
        raise ValueError(f"episodes={episodes} is out of range: at least 1 (default: every seed)")
    name = label or default_label(policy)
    jobs = [
        (policy, scenario, seed, name, unsafe_load)
        for scenario in SUITES[suite]
        for seed in scenario.seeds[: episodes or len(scenario.seeds)]
    ]
    shown = f"evaluating {name} on {suite}" if progress_enabled(progress) else None
    rows = run_jobs(_one, jobs, backend, address, progress=shown)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return rows


def _one(
    policy: str, scenario: Scenario, seed: int, label: str, unsafe_load: bool = False
) -> dict[str, Any]:
    env = gym.make(scenario.env_id, **scenario.overrides)
    selector = load_policy(policy, env, seed, unsafe_load)
    result = run_episode(env, selector, seed)
    env.close()
    return {
        "policy": label,
        "scenario": scenario.name,
        "seed": seed,
        **result,
        "max_rounds": int(env.unwrapped.config.env.max_rounds),  # type: ignore[attr-defined]
        "suite_version": SUITE_VERSION,
        "bcfl_env": bcfl_env.__version__,
    }
