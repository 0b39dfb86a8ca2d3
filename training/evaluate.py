"""Run policies on a scenario suite and write per-episode results as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym

import bcfl_env  # registers the ids
from agents import SELECTORS, load_selector
from training.rollout import run_episode
from training.suite import SUITES, Scenario

__all__ = ["default_label", "evaluate_policy", "run_episode"]


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
    train_seed: int | None = None,
) -> list[dict[str, Any]]:
    """Run ``policy`` on every scenario and held-out seed of ``suite``; append JSON lines to ``out``.

    ``train_seed``: the training seed of the model, written in each row, so that the models of
    several training seeds of one recipe, evaluated under one ``label``, are one leaderboard row
    (their episodes pooled) instead of repeats the leaderboard refuses.

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
    if train_seed is not None and (isinstance(train_seed, bool) or train_seed < 0):
        raise ValueError(f"train_seed={train_seed!r} is out of range: an integer of at least 0")
    name = label or default_label(policy)
    jobs = [
        (policy, scenario, seed, name, unsafe_load)
        for scenario in SUITES[suite]
        for seed in scenario.seeds[: episodes or len(scenario.seeds)]
    ]
    shown = f"evaluating {name} on {suite}" if progress_enabled(progress) else None
    rows = run_jobs(_one, jobs, backend, address, progress=shown)
    if train_seed is not None:
        rows = [{**row, "train_seed": int(train_seed)} for row in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return rows


def _one(
    policy: str, scenario: Scenario, seed: int, label: str, unsafe_load: bool = False
) -> dict[str, Any]:
    env = gym.make(scenario.env_id, **scenario.overrides)
    selector = load_selector(policy, env, seed=seed, unsafe_load=unsafe_load)
    result = run_episode(env, selector, seed)
    env.close()
    return {
        "policy": label,
        "scenario": scenario.name,
        "seed": seed,
        **result,
        "max_rounds": int(bcfl_env.unwrap(env).config.env.max_rounds),
        "suite_version": scenario.version,
        "bcfl_env": bcfl_env.__version__,
    }
