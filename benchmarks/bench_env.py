"""Steps per second of bcfl/IoV-v0 (real FL in every step) with a per-component breakdown.

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
    ),
    "evaluation and scoring": ("evaluation.py",),
    "observation": ("observation.py",),
}


def run(steps: int, seed: int = 0) -> float:
    env = gym.make("bcfl/IoV-v0", max_rounds=10_000, target_accuracy=1.0)
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
        f"IoV-v0 default: median {np.median(rates):.0f} steps/s over {args.repeats} runs of {args.steps} steps (target >= 200)"
    )
    prof = cProfile.Profile()
    prof.enable()
    run(args.steps)
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    print("share of self time by component:")
    for name, files in COMPONENTS.items():
        own = sum(v[2] for k, v in stats.stats.items() if k[0].endswith(files))  # type: ignore[attr-defined]
        print(f"  {name:<38} {own / total:6.1%}")
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]  # type: ignore[attr-defined]
    print("top self-time functions:")
    for (file, line, fn), v in top:
        print(f"  {v[2] / total:6.1%}  {fn} ({file.split('/')[-1]}:{line})")


if __name__ == "__main__":
    main()
