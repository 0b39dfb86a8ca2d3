"""Adversary sweep: final accuracy under every shipped attack and faulty committee members,
against the clean run with the same selector and seeds (target: within 2 points).

IoV, random selection, ``--rounds`` rounds (60, IoV's episode length: final accuracy is the
accuracy an episode ends with), seeds 0..``--seeds``-1 (6: one seed moves the final accuracy by
several points), the target accuracy out of reach so every episode runs all rounds. Rows: attack x
poisoning fraction x faulty committee behaviour (``--faulty-behaviour``); columns: final accuracy
(mean over seeds) and its gap to the clean run, the same for the mean accuracy of the last 10
rounds, and the poisoned updates accepted and rejected. Also checks liveness with one
always-reject member of four.

Usage: python benchmarks/bench_adversary.py [--rounds 60] [--seeds 6] [--fractions 0.3]
       [--faulty-behaviour random] [--set chain__contract_rules=True chain__label_screen=True]
"""

from __future__ import annotations

import argparse
import ast
import statistics
import time
from typing import Any

import torch

import bcfl_env  # noqa: F401
from bcfl_env.config import AttackKind
from training.rollout import ADVERSARY_TAIL as TAIL
from training.rollout import adversary_episode

ONE_OF_FOUR = 1 / 6  # IoV has 6 RSUs and a 4-member committee: one faulty RSU


EXTRA: dict[str, Any] = {}  # --set overrides, applied to every run (the clean one included)


def sweep(rounds: int, seeds: int, **overrides: Any) -> dict[str, float]:
    runs = [adversary_episode(rounds, s, **{**EXTRA, **overrides}) for s in range(seeds)]
    return {k: statistics.fmean(r[k] for r in runs) for k in runs[0]}


def _tail(run: dict[str, float], clean: dict[str, float]) -> str:
    return f"{run['tail']:.3f}, {100 * (run['tail'] - clean['tail']):+.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument(
        "--faulty-behaviour", default="random", help="what the one faulty member of four does"
    )
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.3])
    parser.add_argument("--attacks", nargs="+", default=list(AttackKind.__args__))  # type: ignore[attr-defined]
    parser.add_argument("--set", nargs="*", default=[], help="env overrides key=value (literals)")
    args = parser.parse_args()
    EXTRA.update({k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in args.set)})
    torch.set_num_threads(1)
    start = time.perf_counter()
    clean = sweep(args.rounds, args.seeds)
    print(
        f"clean: final accuracy {clean['accuracy']:.3f}, mean of the last {TAIL} rounds "
        f"{clean['tail']:.3f} ({args.seeds} seeds, {args.rounds} rounds)"
    )
    print(
        "\n| attack | poisoning | faulty committee | final accuracy | vs clean [points] | "
        f"mean of the last {TAIL} rounds, vs clean [points] | "
        "poisoned accepted / rejected (per episode) | final within 2 points |"
    )
    print("|---|---|---|---|---|---|---|---|")
    worst = 0.0
    behaviour = args.faulty_behaviour
    faulty_label = f"1 of 4, {behaviour}"
    alone = sweep(args.rounds, args.seeds, faulty_fraction=ONE_OF_FOUR, faulty_behavior=behaviour)
    gap = 100 * (alone["accuracy"] - clean["accuracy"])
    print(
        f"| none | 0% | {faulty_label} | {alone['accuracy']:.3f} | {gap:+.1f} | "
        f"{_tail(alone, clean)} | - | {'yes' if gap >= -2 else 'NO'} |",
        flush=True,
    )
    for attack in args.attacks:
        for fraction in args.fractions:
            for faulty, label in ((0.0, "none"), (ONE_OF_FOUR, faulty_label)):
                r = sweep(
                    args.rounds, args.seeds, malicious_fraction=fraction, attack=attack,
                    faulty_fraction=faulty, faulty_behavior=behaviour,
                )  # fmt: skip
                gap = 100 * (r["accuracy"] - clean["accuracy"])
                worst = min(worst, gap)
                print(
                    f"| {attack} | {fraction:.0%} | {label} | {r['accuracy']:.3f} | {gap:+.1f} | "
                    f"{_tail(r, clean)} | {r['accepted']:.1f} / {r['rejected']:.1f} | "
                    f"{'yes' if gap >= -2 else 'NO'} |",
                    flush=True,
                )
    live = sweep(
        args.rounds, args.seeds, faulty_fraction=ONE_OF_FOUR, faulty_behavior="always_reject"
    )
    print(
        f"\nliveness, one always-reject member of four: final accuracy {live['accuracy']:.3f} "
        f"({100 * (live['accuracy'] - clean['accuracy']):+.1f} points), blocks committed "
        f"{live['committed']:.1f} of {args.rounds}"
    )
    print(f"worst gap {worst:+.1f} points; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
