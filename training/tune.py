"""Tune an algorithm's hyperparameters with Optuna, every algorithm with the same budget.

The leaderboard's tracks compare algorithms; comparing them fairly means tuning each with the
same effort. ``bcfl tune ALGO --trials T --steps S`` runs an Optuna study (TPE, seeded) of ``T``
trials, each a training run of ``S`` environment steps (``S`` x K one-vehicle picks for the
picking algorithms, as in the tracks) on one scenario, scored on **validation seeds** that no
suite holds out (:data:`VALIDATION_SEEDS`): the mean over them of the time to target divided by
the scenario's reference (an episode that misses the target counts at the time budget). The best
trial's hyperparameters are written as YAML data to ``--out`` (default
``training/hyperparams/tuned/<algo>.yml``), one entry per scenario, with the budget and the study's
result beside them; ``training.tracks --tuned`` trains with them.

The study lives in an SQLite file (``--storage``), so an interrupted study resumes: trials
already complete count toward ``T``.

Usage: bcfl tune ppo --scenario iov-default --trials 16 --steps 20000 [--seed 0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SEARCH_SPACES", "VALIDATION_SEEDS", "load_tuned", "tune"]

# Seeds the tuner scores trials on: disjoint from every suite's held-out seeds (1000-1009,
# 2000-2029), so that tuning never sees an evaluation episode (tests/test_tune.py checks it).
# A study scores each trial on the first ``validation_episodes`` of them (3 by default; three
# episodes are a noisy objective: A2C's best of 6 trials at 3 generalised worse than its shipped
# entry, docs/results.md).
VALIDATION_RANGE = tuple(range(500, 530))
VALIDATION_SEEDS = VALIDATION_RANGE[:3]
TUNED = Path(__file__).resolve().parent / "hyperparams" / "tuned"


def _ppo(trial: Any) -> dict[str, Any]:
    n_steps = trial.suggest_categorical("n_steps", [128, 256, 512])
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "n_steps": n_steps,
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
        "n_epochs": trial.suggest_categorical("n_epochs", [5, 10]),
        "gamma": trial.suggest_categorical("gamma", [0.9, 0.95, 0.99]),
        "ent_coef": trial.suggest_float("ent_coef", 1e-4, 0.05, log=True),
    }


def _a2c(trial: Any) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "n_steps": trial.suggest_categorical("n_steps", [5, 16, 64]),
        "gamma": trial.suggest_categorical("gamma", [0.9, 0.95, 0.99]),
        "ent_coef": trial.suggest_float("ent_coef", 1e-4, 0.05, log=True),
    }


def _off_policy(trial: Any) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [64, 128, 256]),
        "gamma": trial.suggest_categorical("gamma", [0.9, 0.95, 0.99]),
        "tau": trial.suggest_categorical("tau", [0.005, 0.02]),
        "train_freq": trial.suggest_categorical("train_freq", [1, 4]),
        "learning_starts": trial.suggest_categorical("learning_starts", [100, 500]),
    }


def _dqn(trial: Any) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
        "gamma": trial.suggest_categorical("gamma", [0.9, 0.95, 0.99]),
        "exploration_fraction": trial.suggest_float("exploration_fraction", 0.05, 0.5),
        "target_update_interval": trial.suggest_categorical("target_update_interval", [100, 500]),
        "train_freq": trial.suggest_categorical("train_freq", [1, 4]),
    }


# One search space per algorithm (rl-zoo's ranges, narrowed to what fits these budgets).
SEARCH_SPACES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "ppo": _ppo,
    "ppo_weights": _ppo,
    "maskable_ppo": _ppo,
    "a2c": _a2c,
    "sac": _off_policy,
    "td3": _off_policy,
    "dqn": _dqn,
}


def load_tuned(algo: str, scenario: str, directory: Path = TUNED) -> dict[str, Any] | None:
    """The tuned hyperparameters of ``algo`` on ``scenario`` (None: not tuned there)."""
    path = directory / f"{algo}.yml"
    if not path.is_file():
        return None
    table = yaml.safe_load(path.read_text()) or {}
    entry = table.get(scenario)
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("hyperparams"), dict):
        raise ValueError(f"{path}: entry {scenario!r} has no 'hyperparams' mapping")
    return dict(entry["hyperparams"])


def _score(
    model: Path,
    scenario: Any,
    version: int,
    seeds: tuple[int, ...] = VALIDATION_SEEDS,
    overrides: dict[str, Any] | None = None,
) -> float:
    """Mean over the validation ``seeds`` of the time to target over the scenario's reference
    (``overrides``: the env the model acts in, default the scenario's)."""
    import gymnasium as gym

    from agents import load_selector
    from training.rollout import run_episode
    from training.suite import scenario_reference

    reference, budget = scenario_reference(scenario.name, version)
    values = []
    for seed in seeds:
        env = gym.make(scenario.env_id, **(scenario.overrides if overrides is None else overrides))
        result = run_episode(env, load_selector(model, env), seed)
        env.close()
        reached = result["time_to_target_s"]
        values.append((budget if reached is None else reached) / reference)
    return float(sum(values) / len(values))


def tune(
    algo: str,
    scenario: str = "iov-default",
    trials: int = 16,
    steps: int = 20_000,
    seed: int = 0,
    storage: Path | None = None,
    out: Path | None = None,
    runs_dir: Path = Path("runs/tune"),
    version: int = 1,
    validation_episodes: int = len(VALIDATION_SEEDS),
) -> dict[str, Any]:
    """Run (or resume) the study and write the best trial's hyperparameters; returns the entry.

    Raises:
        ValueError: an algorithm without a search space, a scenario no suite of ``version``
            defines, or a budget below one trial of one step.
    """
    import gymnasium as gym
    import optuna

    from agents.loading import PICKING_ALGOS, VARIANTS
    from bcfl_env import unwrap
    from training.suite import find_scenario
    from training.train import train

    if algo not in SEARCH_SPACES:
        raise ValueError(f"algo={algo!r} is not allowed: choose one of {sorted(SEARCH_SPACES)}")
    if trials < 1 or steps < 1:
        raise ValueError(f"trials={trials} and steps={steps}: both must be at least 1")
    if not 1 <= validation_episodes <= len(VALIDATION_RANGE):
        raise ValueError(
            f"validation_episodes={validation_episodes} is out of range: allowed "
            f"[1, {len(VALIDATION_RANGE)}]"
        )
    seeds = VALIDATION_RANGE[:validation_episodes]
    target = find_scenario(scenario, version)
    if target is None:
        raise ValueError(f"scenario {scenario!r} is in no suite of version {version}")
    runs_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or runs_dir / f"{algo}__{scenario}.db"
    probe = gym.make(target.env_id, **target.overrides)
    k = int(unwrap(probe).budget)
    probe.close()
    env_steps = steps * k if algo in PICKING_ALGOS else steps
    base, env_overrides, variant = VARIANTS.get(algo, (algo, {}, {}))
    overrides = {**target.overrides, **env_overrides}

    def objective(trial: Any) -> float:
        params = {**variant, **SEARCH_SPACES[algo](trial)}
        run = train(
            base, target.env_id, env_steps, seed, None, overrides, runs_dir,
            progress=False, checkpoint_every=10**9, keep_checkpoints=1, hyperparams=params,
        )  # fmt: skip
        return _score(run / "model.zip", target, version, seeds, overrides)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=f"{algo}__{scenario}",
        storage=f"sqlite:///{storage}",
        load_if_exists=True,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if done < trials:
        study.optimize(objective, n_trials=trials - done)
    best = study.best_trial
    if best.value is None or not math.isfinite(float(best.value)):
        raise ValueError(f"study {algo}__{scenario}: no trial produced a finite score")
    entry = {
        "hyperparams": dict(best.params),
        "tuning": {
            "trials": trials,
            "steps_per_trial": steps,
            "env_steps_per_trial": env_steps,
            "validation_seeds": list(seeds),
            "best_normalised_time": round(float(best.value), 4),
            "seed": seed,
            "sampler": "optuna TPE",
        },
    }
    path = out or TUNED / f"{algo}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    table[scenario] = entry
    header = (
        "# Tuned by training/tune.py (bcfl tune): the best of an Optuna study per scenario, every\n"
        "# algorithm with the same trials x steps; scored on validation seeds, never held-out ones.\n"
    )
    path.write_text(header + yaml.safe_dump(table, sort_keys=True))
    return entry
