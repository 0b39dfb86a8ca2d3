"""DAG model sharing on and off (``chain.dag``) on IoV with the same selector and seeds.

Random selection, ``--rounds`` (30) rounds with the target out of reach, seeds 0..``--seeds``-1.
Prints final accuracy and accuracy at fixed simulated times, the cost sharing adds (models
published and pulled, bits, V2V seconds, sender joules), env throughput, and whether the DAG and
its anchors verify.

Usage: python benchmarks/bench_dag.py [--rounds 30] [--seeds 3] [--mix 0.3 0.1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import bcfl_env  # noqa: F401
from agents import make_selector
from bcfl_env import unwrap
from training.rollout import run_episode

CHECKPOINTS_S = (50.0, 100.0, 150.0)


def episode(rounds: int, seed: int, **overrides: Any) -> dict[str, Any]:
    env = gym.make("bcfl/IoV-v1", max_rounds=rounds, target_accuracy=1.0, **overrides)
    start = time.perf_counter()  # reset included
    result = run_episode(env, make_selector("random", env, seed=seed), seed)
    wall = time.perf_counter() - start
    base = unwrap(env)
    base.ledger.verify()
    curve = result["curve"]
    out: dict[str, Any] = {"final": result["final_accuracy"], "steps_per_s": rounds / wall}
    for t in CHECKPOINTS_S:
        out[f"acc@{t:.0f}s"] = max(a for s, a in curve if s <= t)
    assert base.world is not None
    if base.world.dag_sharing is not None:
        out.update(base.world.dag_sharing.stats)
        out["verified"] = base.world.dag_sharing.verify()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--mix", type=float, nargs="+", default=[0.3, 0.1])
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings: list[tuple[str, dict[str, Any]]] = [("off", {})]
    settings += [(f"on, mix {m}", {"chain__dag": True, "chain__dag_mix": m}) for m in args.mix]
    print("| DAG | final accuracy | " + " | ".join(f"accuracy by {t:.0f} s" for t in CHECKPOINTS_S)
          + " | published / pulled per episode | V2V Mbit | V2V s | sender J | steps/s |")  # fmt: skip
    print("|---" * (6 + len(CHECKPOINTS_S)) + "|")
    for name, overrides in settings:
        runs = [episode(args.rounds, s, **overrides) for s in range(args.seeds)]

        def mean(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.fmean(float(r.get(key, 0.0)) for r in runs)

        cells = [f"{mean('final'):.3f}"] + [f"{mean(f'acc@{t:.0f}s'):.3f}" for t in CHECKPOINTS_S]
        cost = (
            f"{mean('published'):.0f} / {mean('pulled'):.0f} | {mean('bits') / 1e6:.0f} | "
            f"{mean('seconds'):.0f} | {mean('joules'):.1f}"
        )
        print(f"| {name} | " + " | ".join(cells) + f" | {cost} | {np.median([r['steps_per_s'] for r in runs]):.0f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
