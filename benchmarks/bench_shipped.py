"""The shipped selector against the baselines on many held-out seeds of the default IoV preset.

``bench_selection.py`` trains and judges on the suite's 10 held-out seeds, whose 10-episode IQM
moves by several percent from one set of seeds to another. This script only evaluates (about 15 s
per policy per 50 episodes), so it can afford ``--episodes 50`` and a second, disjoint set with
``--first-seed 1050``. Prints each policy's IQM of the simulated time to target and the shipped
policy's saving against each baseline with a paired bootstrap CI (held-out seeds resampled) and
the share of held-out seeds on which it was faster.

Usage: python benchmarks/bench_shipped.py [--policy shipped] [--baselines random oort]
                                          [--episodes 50] [--first-seed 1000]
"""

from __future__ import annotations

import argparse
import time

import torch

import bcfl_env  # noqa: F401
from training.rollout import held_out_seeds, iqm, paired_summary, policy_times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", default="shipped", help="'shipped' or a model.zip path")
    parser.add_argument("--baselines", nargs="+", default=["random", "oort"])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = held_out_seeds(args.episodes, args.first_seed)
    times = {}
    for policy in [args.policy, *args.baselines]:
        start = time.perf_counter()
        times[policy] = policy_times(policy, seeds)
        print(
            f"{policy}: IQM {iqm(list(times[policy])):.1f} s over seeds {seeds[0]}-{seeds[-1]} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    for baseline in args.baselines:
        ratio, low, high, wins = paired_summary(times[args.policy][None, :], times[baseline])
        print(
            f"{args.policy} vs {baseline}: {ratio - 1:+.1%} simulated time to target "
            f"(95 % CI {low - 1:+.1%} to {high - 1:+.1%}), faster on {wins:.0%} of the seeds"
        )


if __name__ == "__main__":
    main()
