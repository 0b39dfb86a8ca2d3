"""PPO (SlotSetPolicy, shipped hyperparameters) against the baselines on the suite's IoV scenario.

Trains PPO for ``--timesteps`` (default: the shipped budget) once per training seed on the
default (server-observable) features, and, for ``--oracle-seeds``, once with
``observation_features="oracle"`` (the upper bound); evaluates every model and the baselines
(``--baselines``, default random, Oort and FAVOR) on the held-out seeds of the default IoV
scenario and prints the table, each seed's relative simulated time to target and the median over
seeds. Targets: PPO >= 30 % less time than random, >= 10 % less than Oort.
Usage: python benchmarks/bench_selection.py [--timesteps N] [--episodes 10] [--seeds 0 1 2 3 | --seeds]
       [--oracle-seeds 0] [--baselines random oort favor]
"""

from __future__ import annotations

import argparse
import statistics
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
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--oracle-seeds", type=int, nargs="*", default=[])
    parser.add_argument("--baselines", nargs="*", default=["random", "oort", "favor"])
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-selection-"))
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    results = args.out / "results.jsonl"
    if results.exists():  # evaluations append: start this run's table empty
        results.unlink()
    labels, oracle_labels = [], []
    for seed in args.seeds:
        t = time.perf_counter()
        run = train(
            "ppo", "bcfl/IoV-v1", args.timesteps, seed, None, {}, args.out / "runs",
            checkpoint_every=10**9,
        )  # fmt: skip
        print(f"trained PPO seed {seed} in {time.perf_counter() - t:.0f} s: {run}")
        learning_curve(run, args.out / f"learning_curve_seed{seed}.png")
        labels.append(f"ppo-seed{seed}")
        evaluate_policy(str(run / "model.zip"), args.suite, args.episodes, results, labels[-1])
    for seed in args.oracle_seeds:
        t = time.perf_counter()
        run = train(
            "ppo", "bcfl/IoV-v1", args.timesteps, seed, None, {"observation_features": "oracle"},
            args.out / "runs-oracle", checkpoint_every=10**9,
        )  # fmt: skip
        print(f"trained oracle PPO seed {seed} in {time.perf_counter() - t:.0f} s: {run}")
        oracle_labels.append(f"ppo-oracle-seed{seed}")
        evaluate_policy(
            str(run / "model.zip"), "iov-oracle", args.episodes, results, oracle_labels[-1]
        )
    for baseline in args.baselines:
        t = time.perf_counter()
        evaluate_policy(baseline, args.suite, args.episodes, results, baseline)
        print(f"evaluated {baseline} in {time.perf_counter() - t:.0f} s", flush=True)
    table = build_leaderboard([results], args.out)
    print(markdown(table))
    overall = {r["policy"]: r["normalised_time_iqm"] for r in table if r["scenario"] == "ALL"}
    groups = (("PPO", labels, args.seeds), ("oracle PPO", oracle_labels, args.oracle_seeds))
    for other, target in [(b, {"random": 0.30, "oort": 0.10}.get(b, 0.0)) for b in args.baselines]:
        for name, group, seeds in groups:
            if not group:
                continue
            savings = [1 - overall[label] / overall[other] for label in group]
            each = ", ".join(f"seed {s} {v:+.1%}" for s, v in zip(seeds, savings, strict=True))
            print(
                f"{name} vs {other}: median {statistics.median(savings):+.1%} less simulated time "
                f"to target over {len(group)} training seed(s) ({each}; target >= {target:.0%})"
            )
    print(f"total {time.perf_counter() - start:.0f} s; files in {args.out}")


if __name__ == "__main__":
    main()
