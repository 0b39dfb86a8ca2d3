"""Steps per second of bcfl/IoV-v1 (real FL in every step) with a per-component breakdown.

Usage: python benchmarks/bench_env.py [--steps 300]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import gymnasium as gym
import numpy as np

import bcfl_env  # noqa: F401

COMPONENTS = {
    "world (mobility, channel, uploads)": (
        "vehicular.py",
        "uploads.py",
        "mobility.py",
        "channel.py",
        "infrastructure.py",
    ),
    "training": ("training.py", "attacks.py", "privacy.py"),
    "chain (crypto, committee, blocks)": (
        "permissioned.py",
        "crypto.py",
        "ca.py",
        "block.py",
        "merkle.py",
        "committee.py",
        "transactions.py",
        "store.py",
        "identity.py",
        "tasks.py",
        "voting.py",
        "faults.py",
        "election.py",
        "bft.py",
        "base.py",
    ),
    "evaluation and scoring": ("evaluation.py",),
    "observation": ("observation.py",),
    "env and world glue": (
        "world.py",
        "jobs.py",
        "server_record.py",
        "mechanism.py",
        "envs/core.py",
        "envs/reward.py",
        "bench_env.py",
    ),  # fmt: skip
}


def component_shares(stats: pstats.Stats) -> dict[str, float]:
    """Share of all profiled time per component, every function's self time counted once.

    Time in code outside the components (torch kernels, ``cryptography``, numpy, shared helpers
    such as ``fl/models.py``) goes to the components that called it, split by the callers'
    cumulative time, so the shares add up to 100 %.
    """
    table = stats.stats  # type: ignore[attr-defined]
    memo: dict[tuple[str, int, str], dict[str, float]] = {}

    def owner(key: tuple[str, int, str], seen: frozenset[tuple[str, int, str]]) -> dict[str, float]:
        if key in memo:
            return memo[key]
        for name, files in COMPONENTS.items():
            if key[0].endswith(files):
                return {name: 1.0}
        callers = {k: v for k, v in table[key][4].items() if k not in seen and k in table}
        weight = sum(v[3] for v in callers.values())
        if not callers or weight <= 0:
            return {"unattributed": 1.0}
        mix: dict[str, float] = {}
        for k, v in callers.items():
            for name, f in owner(k, seen | {key}).items():
                mix[name] = mix.get(name, 0.0) + f * v[3] / weight
        memo[key] = mix
        return mix

    shares: dict[str, float] = {}
    total = sum(v[2] for v in table.values())
    for key, v in table.items():
        for name, f in owner(key, frozenset()).items():
            shares[name] = shares.get(name, 0.0) + f * v[2] / total
    return shares


def run(steps: int, seed: int = 0) -> float:
    env = gym.make("bcfl/IoV-v1", max_rounds=10_000, target_accuracy=1.0)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    return steps / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rates = [run(args.steps, seed) for seed in range(args.repeats)]
    print(
        f"IoV-v1 default: median {np.median(rates):.0f} steps/s over {args.repeats} runs of {args.steps} steps (target >= 200)"
    )
    prof = cProfile.Profile()
    prof.enable()
    run(args.steps)
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    print("share of time by component (callees' time given to the component that called them):")
    for name, share in sorted(component_shares(stats).items(), key=lambda kv: -kv[1]):
        print(f"  {name:<38} {share:6.1%}")
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]  # type: ignore[attr-defined]
    print("top self-time functions:")
    for (file, line, fn), v in top:
        print(f"  {v[2] / total:6.1%}  {fn} ({file.split('/')[-1]}:{line})")


if __name__ == "__main__":
    main()
