"""How well the committee separates honest updates from poisoned ones, per preset and attack.

Runs ``--rounds`` rounds of a random selection for each preset, attack and seed and prints the
confusion table of the committee's verdicts: honest updates rejected for quality (false
rejections) and poisoned updates accepted. Targets (MDP v1): at most 5 % of honest updates
rejected with no attacker, at most 5 % of poisoned updates accepted with 30 % poisoning vehicles.

Usage: python benchmarks/bench_committee.py [--rounds 40] [--seeds 0 1 2] [--presets IoV IIoT IoHT]
"""

from __future__ import annotations

import argparse
import ast
import time
from typing import Any

import gymnasium as gym
import torch

import bcfl_env  # noqa: F401

ATTACKS = {
    "none": {},
    "sign_flip": {"attack": "sign_flip"},
    "gaussian": {"attack": "gaussian"},
    "label_flip": {"attack": "label_flip"},
}
QUALITY = ("low_quality", "non_finite_update")


def confusion(
    preset: str, attack: str, rounds: int, seeds: list[int], extra: dict[str, Any]
) -> dict[str, int]:
    counts = dict.fromkeys(
        ("honest_accepted", "honest_rejected", "poisoned_accepted", "poisoned_rejected"), 0
    )
    overrides = {"malicious_fraction": 0.3, **ATTACKS[attack]} if attack != "none" else {}
    overrides.update(extra)
    for seed in seeds:
        env = gym.make(f"bcfl/{preset}-v1", max_rounds=rounds, target_accuracy=1.0, **overrides)
        env.reset(seed=seed)
        env.action_space.seed(seed)
        malicious = env.unwrapped.world.fl.malicious
        for _ in range(rounds):
            info = env.step(env.action_space.sample())[4]
            for identity in info["accepted"]:
                counts["poisoned_accepted" if malicious[identity] else "honest_accepted"] += 1
            for identity, why in info["rejected"]:
                if why in QUALITY and identity >= 0:
                    counts["poisoned_rejected" if malicious[identity] else "honest_rejected"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--presets", nargs="+", default=["IoV", "IIoT", "IoHT"])
    parser.add_argument("--attacks", nargs="+", default=list(ATTACKS))
    parser.add_argument(
        "--set", nargs="*", default=[], help="config overrides key=value (literals)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| preset | attack | honest rejected | poisoned accepted | targets |")
    print("|---|---|---|---|---|")
    start = time.perf_counter()
    for preset in args.presets:
        for attack in args.attacks:
            extra = {k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in args.set)}
            c = confusion(preset, attack, args.rounds, args.seeds, extra)
            honest = c["honest_accepted"] + c["honest_rejected"]
            poisoned = c["poisoned_accepted"] + c["poisoned_rejected"]
            false_reject = c["honest_rejected"] / max(honest, 1)
            slipped = c["poisoned_accepted"] / max(poisoned, 1)
            ok = false_reject <= 0.05 and (attack == "none" or slipped <= 0.05)
            print(
                f"| {preset} | {attack} | {c['honest_rejected']}/{honest} ({false_reject:.1%}) | "
                f"{c['poisoned_accepted']}/{poisoned} ({slipped:.1%}) | {'met' if ok else 'NOT met'} |",
                flush=True,
            )
    print(
        f"({time.perf_counter() - start:.0f} s; {args.rounds} rounds x seeds {args.seeds}, random selection)"
    )


if __name__ == "__main__":
    main()
