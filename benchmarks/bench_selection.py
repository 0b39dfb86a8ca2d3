"""PPO (SlotSetPolicy, shipped hyperparameters) against random and Oort on the suite's IoV scenario.

Trains PPO for ``--timesteps`` (default: the shipped budget), evaluates it, random and Oort on the
held-out seeds of ``--suite`` (default ``iov``: the default IoV scenario) and prints the table and
the relative simulated time to target. Target: PPO >= 30 % less time than random, >= 10 % less
than Oort. Usage: python benchmarks/bench_selection.py [--timesteps N] [--episodes 10] [--seeds 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from training.evaluate import evaluate_policy
from training.leaderboard import build_leaderboard, markdown
from training.plots import learning_curve
from training.train import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timesteps", type=int)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--suite", default="iov")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-selection-"))
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    run = train(
        "ppo",
        "bcfl/IoV-v0",
        args.timesteps,
        args.seed,
        None,
        {},
        args.out / "runs",
        checkpoint_every=10**9,
    )
    print(f"trained PPO in {time.perf_counter() - start:.0f} s: {run}")
    learning_curve(run, args.out / "learning_curve.png")
    results = args.out / "results.jsonl"
    for policy, label in ((str(run / "model.zip"), "ppo"), ("random", "random"), ("oort", "oort")):
        evaluate_policy(policy, args.suite, args.episodes, results, label)
    table = build_leaderboard([results], args.out)
    print(markdown(table))
    overall = {r["policy"]: r["normalised_time_iqm"] for r in table if r["scenario"] == "ALL"}
    for other, target in (("random", 0.30), ("oort", 0.10)):
        saving = 1 - overall["ppo"] / overall[other]
        print(f"PPO vs {other}: {saving:+.1%} simulated time to target (target >= {target:.0%})")
    print(f"total {time.perf_counter() - start:.0f} s; files in {args.out}")


if __name__ == "__main__":
    main()
