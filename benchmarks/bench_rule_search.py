"""How far can one fixed scoring rule go on the default IoV preset? A bound for the 30 % target.

The cross-entropy method (Rubinstein 1999) searches the ``action_mode="weights"`` rules (linear
policies, which derivative-free search trains about as well as deep RL on MuJoCo: Mania et al.,
NeurIPS 2018):
one weight per observed feature, the same every step. Each candidate is scored by its IQM
simulated time to target on ``--search-seeds`` (100, 101, ...: neither the suite's held-out
seeds nor worlds a training seed draws), the best quarter of each generation refits the sampling
distribution, and the final mean rule is judged on the held-out seeds against random and Oort,
with the paired bootstrap CI of ``bench_shipped.py``. ``--features oracle`` searches over the
oracle rows too (true CPU, label entropy and round trip), so the two runs say whether what a
server cannot observe would buy a better rule. A state-dependent policy (the shipped
``SlotSetPolicy``) can beat every fixed rule, so this bounds nothing from above; it says how much
of the margin to random a fixed rule over these features already takes.

Usage: python benchmarks/bench_rule_search.py [--features server|oracle] [--generations 8]
                                              [--population 16] [--search-seeds 12]
                                              [--episodes 50] [--first-seed 1000]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import bcfl_env  # noqa: F401
from training.rollout import held_out_seeds, iqm, paired_summary, policy_times
from training.rollout import times_to_target as evaluate


class FixedRule:
    """A weights-mode action that never changes: the selector a searched rule stands for."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = np.clip(weights, -1.0, 1.0).astype(np.float32)

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return self.weights, None


def rule_times(weights: np.ndarray, seeds: list[int], features: str) -> np.ndarray:
    """Simulated time to target of one fixed rule on each seed."""
    overrides = {"action_mode": "weights", "observation_features": features}
    return np.array(evaluate(lambda env, seed: FixedRule(weights), overrides, seeds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", choices=["server", "oracle"], default="server")
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--search-seeds", type=int, default=12)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1000)
    args = parser.parse_args()
    if min(args.generations, args.population, args.search_seeds, args.episodes) < 1:
        parser.error("--generations, --population, --search-seeds and --episodes must be >= 1")
    torch.set_num_threads(1)
    env = gym.make("bcfl/IoV-v1", action_mode="weights", observation_features=args.features)
    names: list[str] = env.unwrapped.feature_names  # type: ignore[attr-defined]
    env.close()
    search = list(range(100, 100 + args.search_seeds))
    gen = np.random.default_rng(0)
    mean, std = np.zeros(len(names)), np.full(len(names), 0.6)
    elite_count = max(2, args.population // 4)
    start = time.perf_counter()
    for generation in range(args.generations):
        population = np.clip(mean + std * gen.standard_normal((args.population, len(names))), -1, 1)
        scores = np.array([iqm(list(rule_times(w, search, args.features))) for w in population])
        elite = population[np.argsort(scores, kind="stable")[:elite_count]]
        mean, std = elite.mean(axis=0), elite.std(axis=0) + 0.05
        print(
            f"generation {generation}: best {scores.min():.1f} s, median {np.median(scores):.1f} s "
            f"on the search seeds ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    rule = np.clip(mean, -1, 1)
    print("rule: " + ", ".join(f"{n} {w:+.2f}" for n, w in zip(names, rule, strict=True)))
    seeds = held_out_seeds(args.episodes, args.first_seed)
    found = rule_times(rule, seeds, args.features)
    print(f"rule: IQM {iqm(list(found)):.1f} s over held-out seeds {seeds[0]}-{seeds[-1]}")
    for baseline in ("random", "oort"):
        times = policy_times(baseline, seeds)
        ratio, low, high, wins = paired_summary(found[None, :], times)
        print(
            f"rule vs {baseline} (IQM {iqm(list(times)):.1f} s): {ratio - 1:+.1%} simulated time "
            f"to target (95 % CI {low - 1:+.1%} to {high - 1:+.1%}), faster on {wins:.0%} of seeds"
        )
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
