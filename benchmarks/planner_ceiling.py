"""The planner's row: the rollout planner (``agents/planner.py``) on every scenario and held-out
seed of a suite, one JSON line per episode in the leaderboard's format.

Resumable: episodes already in ``--out`` are skipped, and each finished episode is appended at
once, so a long run can be stopped and continued (and its file committed as it grows).
``--jobs`` runs episodes in that many processes.

Usage: python benchmarks/planner_ceiling.py [--suite default] [--out results/leaderboard/v1-planner.jsonl]
                                            [--jobs 2] [--policy planner] [--label planner]
                                            [--scenarios iov-default ...] [--episodes 10]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import torch

import bcfl_env  # noqa: F401
from training.suite import SUITES, Scenario


def _episode(job: tuple[str, Scenario, int, str]) -> dict[str, Any]:
    from training.evaluate import _one

    policy, scenario, seed, label = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    row = _one(policy, scenario, seed, label)
    row["wall_s"] = time.perf_counter() - start
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="default", choices=sorted(SUITES))
    parser.add_argument("--out", type=Path, default=Path("results/leaderboard/v1-planner.jsonl"))
    parser.add_argument("--label", default="planner")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--policy", default="planner", help="a registered planner variant")
    parser.add_argument("--scenarios", nargs="+", default=None)
    parser.add_argument("--episodes", type=int, default=None)
    args = parser.parse_args(argv)
    done: set[tuple[str, int]] = set()
    if args.out.is_file():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            if row.get("policy") == args.label:
                done.add((row["scenario"], int(row["seed"])))
    jobs = [
        (args.policy, scenario, seed, args.label)
        for scenario in SUITES[args.suite]
        if args.scenarios is None or scenario.name in args.scenarios
        for seed in scenario.seeds[: args.episodes or len(scenario.seeds)]
        if (scenario.name, seed) not in done
    ]
    print(f"{len(jobs)} episodes to run ({len(done)} already in {args.out})", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for row in pool.imap_unordered(_episode, jobs):
            with args.out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(
                f"{row['scenario']} seed {row['seed']}: {row['time_to_target_s']} s to target "
                f"({row['rounds']} rounds, {row['wall_s']:.0f} s wall)",
                flush=True,
            )


if __name__ == "__main__":
    main()
