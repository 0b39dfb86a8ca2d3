"""Aggregate steps/s of ``gymnasium.make_vec(..., vectorization_mode="async")`` with one worker
per core against one env in the same run (target: >= 1.8x on 2 cores). Interleaved, medians.

Usage: python benchmarks/bench_async.py [--repeats 3] [--steps 100] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import bcfl_env  # noqa: F401

KW = {"max_rounds": 10**6, "target_accuracy": 1.0}


def single(steps: int) -> float:
    env = gym.make("bcfl/IoV-v1", **KW)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(10):
        env.step(env.action_space.sample())
    start = time.perf_counter()
    for _ in range(steps):
        env.step(env.action_space.sample())
    env.close()
    return steps / (time.perf_counter() - start)


def vector(steps: int, workers: int) -> float:
    envs = gym.make_vec("bcfl/IoV-v1", num_envs=workers, vectorization_mode="async", **KW)
    envs.reset(seed=0)
    envs.action_space.seed(0)
    for _ in range(10):
        envs.step(envs.action_space.sample())
    start = time.perf_counter()
    for _ in range(steps):
        envs.step(envs.action_space.sample())
    elapsed = time.perf_counter() - start
    envs.close()
    return steps * workers / elapsed


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    one, many = [], []
    for _ in range(args.repeats):
        one.append(single(args.steps))
        many.append(vector(args.steps, args.workers))
    ratio = statistics.median(np.array(many) / np.array(one))
    print(f"one env: {statistics.median(one):.1f} steps/s {[round(v) for v in one]}")
    print(f"make_vec async x{args.workers}: {statistics.median(many):.1f} steps/s {[round(v) for v in many]}")  # fmt: skip
    print(f"ratio (median of pairwise): {ratio:.2f}x")
    result = {"workers": args.workers, "single": one, "vector": many, "ratio": float(ratio)}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
