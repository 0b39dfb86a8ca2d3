"""Episode rollouts and the statistics the benchmarks and the leaderboard share.

One loop runs a policy through an episode (:func:`run_episode`); the rest measure simulated time
to target over held-out seeds and compare two policies with a paired bootstrap, so every script
that reports a ratio against random computes it the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from agents import Selector, load_selector, make_selector
from agents.base import SlotSpec
from bcfl_env import unwrap
from training.leaderboard import iqm  # the leaderboard's IQM, one definition
from training.suite import HELD_OUT_SEEDS

__all__ = [
    "adversary_episode",
    "held_out_seeds",
    "iqm",
    "paired_summary",
    "policy_times",
    "run_episode",
    "time_to_target",
    "times_to_target",
]

PolicyFor = Callable[[gym.Env[Any, Any], int], Any]


def run_episode(env: gym.Env[Any, Any], policy: Selector, seed: int) -> dict[str, Any]:
    """One episode of ``policy`` from ``reset(seed=seed)`` to its end, acting deterministically:
    return, time and rounds to target (None if not reached), final accuracy, energy, poisoned
    updates accepted and rejected, blocks committed, and the (time, accuracy) curve."""
    obs, info = env.reset(seed=seed)
    target = unwrap(env).config.env.target_accuracy
    total, energy, poisoned, caught, committed = 0.0, 0.0, 0, 0, 0
    curve = [(0.0, float(info["accuracy"]))]
    time_to_target = rounds_to_target = None
    while True:
        action, _ = policy.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        energy += info["energy_j"]
        poisoned += info["poisoned_accepted"]
        caught += info["poisoned_rejected"]
        committed += int(info["block_committed"])
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
        "poisoned_rejected": caught,
        "blocks_committed": committed,
        "curve": curve,
    }


def time_to_target(episode: dict[str, Any]) -> float:
    """Simulated time to target; an episode that never reached it counts its whole time."""
    reached = episode["time_to_target_s"]
    return float(reached) if reached is not None else float(episode["sim_time_s"])


def held_out_seeds(episodes: int, first: int = HELD_OUT_SEEDS[0]) -> list[int]:
    """``episodes`` consecutive held-out seeds from ``first``: the suite's own (1000-1009, which
    are consecutive) continued past 1009 when more are asked for."""
    assert list(HELD_OUT_SEEDS) == list(range(HELD_OUT_SEEDS[0], HELD_OUT_SEEDS[0] + 10))
    return list(range(first, first + episodes))


def times_to_target(
    policy_for: PolicyFor, overrides: dict[str, Any], seeds: list[int], env_id: str = "bcfl/IoV-v1"
) -> list[float]:
    """Simulated time to target of ``policy_for(env, seed)`` on each seed, one fresh env each."""
    times = []
    for seed in seeds:
        env = gym.make(env_id, **overrides)
        times.append(time_to_target(run_episode(env, policy_for(env, seed), seed)))
        env.close()
    return times


def policy_times(policy: str, seeds: list[int]) -> np.ndarray:
    """Time to target per seed on the default IoV preset of a registered selector (seeded per
    episode) or a ``SlotSetPolicy`` model file (run from the env's :class:`SlotSpec`)."""
    from agents import SELECTORS

    def selector(env: gym.Env[Any, Any], seed: int) -> Selector:
        return load_selector(policy, env if policy in SELECTORS else SlotSpec.of(env), seed=seed)

    return np.array(times_to_target(selector, {}, seeds))


def paired_summary(
    learned: np.ndarray, rand: np.ndarray, reps: int = 2000
) -> tuple[float, float, float, float]:
    """The pooled IQM ratio learned / random over (training seeds x held-out seeds), its percentile
    bootstrap CI with the held-out seeds resampled (one draw serves both policies, since a held-out
    seed fixes the scenario both face), and the share of (training seed, held-out seed) pairs in
    which the learned policy was faster."""

    def ratio(cols: np.ndarray) -> float:
        return float(iqm(learned[:, cols].ravel()) / iqm(rand[cols]))

    gen = np.random.default_rng(0)
    n = rand.size
    boot = [ratio(gen.integers(0, n, n)) for _ in range(reps)]
    low, high = np.percentile(boot, [2.5, 97.5])
    return ratio(np.arange(n)), float(low), float(high), float(np.mean(learned < rand[None, :]))


ADVERSARY_TAIL = 10  # rounds in the smoothed end-of-episode accuracy


def adversary_episode(rounds: int, seed: int, **overrides: Any) -> dict[str, float]:
    """The adversary sweep's episode: IoV with the random selector for ``rounds`` rounds (no
    early end), its final and smoothed final accuracy and the poisoned updates it let through."""
    env = gym.make("bcfl/IoV-v1", max_rounds=rounds, target_accuracy=1.0, **overrides)
    result = run_episode(env, make_selector("random", env, seed=seed), seed)
    env.close()
    accuracies = [accuracy for _, accuracy in result["curve"][1:]]
    return {
        "accuracy": float(result["final_accuracy"]),
        # FedAsync folds each update in at weight alpha, so the global model swings by points from
        # round to round; the mean of the last rounds says where an episode ended up
        "tail": statistics.fmean(accuracies[-ADVERSARY_TAIL:]),
        "accepted": result["poisoned_accepted"],
        "rejected": result["poisoned_rejected"],
        "committed": result["blocks_committed"],
    }
