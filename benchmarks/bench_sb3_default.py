"""Does Stable-Baselines3 out of the box learn a useful selector? ``PPO("MlpPolicy", env)`` with
every hyperparameter at SB3's default, ``--timesteps`` (20,000) steps per training seed, against
random selection on the 10 held-out seeds, on the default IoV preset and on a configuration with
twice the slots and a larger K. Prints the simulated time to target per configuration (IQM over
the held-out episodes, unreached episodes counted at the time budget they used) and whether each
training seed beats random, with a bootstrap CI over the held-out seeds; with more than one
training seed, also the pooled comparison (IQM over every training seed's held-out episodes, with
a bootstrap CI, and the share of paired episodes won). With ``action_mode='weights'`` it also
prints the rule each seed learned: every feature's mean weight over the held-out steps.

``--episodes`` above the suite's 10 held-out seeds (1000-1009) continues with 1010, 1011, ...;
the training env is seeded once with the training seed (0-2) and draws every later world from
that stream, so none of these scenarios was trained on. A 10-episode IQM
moves by several percent from one set of held-out seeds to another, about as much as the effect
measured here, so judge on ``--episodes 50``, and on a second set with ``--first-seed 1050``.

``--sets 2`` with ``--episodes 100`` also reports 1000-1049 and 1050-1099 apart.

Usage: python benchmarks/bench_sb3_default.py [--timesteps 20000] [--seeds 0 1 2] [--episodes 10]
                                              [--first-seed 1000] [--sets 1]
"""

from __future__ import annotations

import argparse
import ast
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO

import bcfl_env  # noqa: F401
from agents import make_selector
from training.rollout import held_out_seeds, iqm, paired_summary
from training.rollout import times_to_target as evaluate
from training.suite import HELD_OUT_SEEDS

CONFIGS: dict[str, dict[str, Any]] = {
    "iov-default (N=20, K=5)": {},
    "iov-2x (N=40, K=10)": {"num_vehicles": 40, "vehicles_per_round": 10},
}


class ActionRecorder:
    """The model acting deterministically, every action kept (to read a learned weighting rule)."""

    def __init__(self, model: PPO) -> None:
        self.model = model
        self.actions: list[np.ndarray] = []

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        action, _ = self.model.predict(obs, deterministic=deterministic)
        self.actions.append(np.asarray(action))
        return action, None

    def weights_summary(self, env: gym.Env[Any, Any]) -> str:
        """In ``weights`` mode: each feature's mean weight over the held-out steps (and its
        spread), beside the policy's exploration std, which SB3 starts at 1."""
        acts = np.array(self.actions)
        names = env.unwrapped.feature_names  # type: ignore[attr-defined]
        std = float(np.exp(self.model.policy.log_std.detach().cpu().numpy()).mean())
        rows = ", ".join(
            f"{n} {m:+.2f} ({d:.2f})"
            for n, m, d in zip(names, acts.mean(axis=0), acts.std(axis=0), strict=True)
        )
        return f"    learned weights, mean (sd over steps); exploration std {std:.2f}: {rows}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument(
        "--first-seed", type=int, default=HELD_OUT_SEEDS[0], help="first held-out seed (>= 1000)"
    )
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), help="names in CONFIGS")
    parser.add_argument("--set", nargs="*", default=[], help="env overrides key=value (literals)")
    parser.add_argument(
        "--sets",
        type=int,
        default=1,
        help="also report each of this many consecutive, disjoint sets of the held-out seeds",
    )
    args = parser.parse_args()
    if args.sets < 1 or args.episodes % args.sets:
        parser.error(
            f"--sets must be >= 1 and divide --episodes ({args.episodes}), got {args.sets}"
        )
    extra = {k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    torch.set_num_threads(1)
    start = time.perf_counter()
    pooled: list[tuple[str, float, float, float, float]] = []
    per_set: list[str] = []
    print("| configuration | policy | time to target IQM [s] | vs random |")
    print("|---|---|---|---|")
    for name in args.configs:
        overrides = {**CONFIGS[name], **extra}
        # baselines rank slots; the random selection is the same whatever the action mode
        slot_overrides = {k: v for k, v in overrides.items() if k != "action_mode"}
        rand_times = evaluate(
            lambda env, seed: make_selector("random", env, seed=seed),
            slot_overrides,
            held_out_seeds(args.episodes, args.first_seed),
        )
        rand = iqm(rand_times)
        print(f"| {name} | random | {rand:.1f} | |", flush=True)
        learned_times = []
        for seed in args.seeds:
            t = time.perf_counter()
            model = PPO("MlpPolicy", gym.make("bcfl/IoV-v1", **overrides), seed=seed, verbose=0)
            model.learn(args.timesteps)
            recorder = ActionRecorder(model)
            learned_times.append(
                evaluate(
                    lambda env, s: recorder,
                    overrides,
                    held_out_seeds(args.episodes, args.first_seed),
                )
            )
            learned = iqm(learned_times[-1])
            _, low, high, wins = paired_summary(np.array(learned_times[-1:]), np.array(rand_times))
            print(
                f"| {name} | PPO MlpPolicy, defaults, {args.timesteps} steps, seed {seed} | "
                f"{learned:.1f} | {learned / rand - 1:+.1%} (95 % CI {low - 1:+.1%} to "
                f"{high - 1:+.1%}, won {wins:.0%}) |  ({time.perf_counter() - t:.0f} s)",
                flush=True,
            )
            if overrides.get("action_mode") == "weights":
                print(recorder.weights_summary(gym.make("bcfl/IoV-v1", **overrides)), flush=True)
        if len(learned_times) > 1:
            pooled.append((name, *paired_summary(np.array(learned_times), np.array(rand_times))))
        if args.sets > 1:
            per_set += set_lines(name, np.array(learned_times), np.array(rand_times), args)
    if per_set:
        print(*per_set, sep="\n")
    for name, ratio, low, high, wins in pooled:
        print(
            f"{name}: all training seeds pooled, IQM {ratio - 1:+.1%} against random "
            f"(95 % CI {low - 1:+.1%} to {high - 1:+.1%}, held-out seeds resampled); "
            f"faster than random on the same held-out seed in {wins:.0%} of the pairs"
        )
    print(f"total {time.perf_counter() - start:.0f} s")


def set_lines(
    name: str, learned: np.ndarray, rand: np.ndarray, args: argparse.Namespace
) -> list[str]:
    """One line per consecutive set of held-out seeds: each training seed's IQM ratio against
    random on that set, and the set's pooled ratio with its bootstrap CI."""
    size = args.episodes // args.sets
    lines = []
    for k in range(args.sets):
        cols = slice(k * size, (k + 1) * size)
        seeds = ", ".join(
            f"{iqm(list(row[cols])) / iqm(list(rand[cols])) - 1:+.1%}" for row in learned
        )
        ratio, low, high, wins = paired_summary(learned[:, cols], rand[cols])
        first = args.first_seed + k * size
        lines.append(
            f"{name}, held-out seeds {first}-{first + size - 1}: training seeds {seeds}; pooled "
            f"{ratio - 1:+.1%} (95 % CI {low - 1:+.1%} to {high - 1:+.1%}), won {wins:.0%}"
        )
    return lines


if __name__ == "__main__":
    main()
