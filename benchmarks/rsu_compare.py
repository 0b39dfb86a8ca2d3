"""Decentralised selection (RSUs as agents) against the central selector, on held-out seeds.

Trains parameter-shared PPO (``SlotSetPolicy``, SuperSuit + SB3; ``--timesteps`` agent steps on
``--worlds`` worlds) on the IoV preset, then runs on the held-out seeds of ``iov-default``:
decentralised random, Oort, the shared PPO and independent learners (one PPO per RSU, trained
in turns, ``--independent-steps`` per turn), each RSU on its own coverage, and the central
random, Oort and shipped PPO. Prints, per row, the IQM of the simulated time to target
with a 95 % bootstrap CI (an episode that never reached it is charged the time budget) and the
reports sent to the MBS per epoch; writes them as JSON.

Usage: python benchmarks/rsu_compare.py [--episodes 10] [--timesteps 60000] [--worlds 4]
                                        [--backend native|supersuit] [--out results/rsu_agents/compare.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import bcfl_env
from agents import load_selector
from bcfl_env.envs.rsu_agents import RSUAgentsEnv
from training.leaderboard import _ci, iqm
from training.multi_agent import (
    act_independent,
    act_shared,
    per_rsu_selectors,
    rsu_episode,
    train_independent,
    train_shared,
)
from training.rollout import held_out_seeds


def central_episode(policy: str, seed: int) -> dict[str, Any]:
    """A central selector's episode, with the reports it needs: a row per covered vehicle."""
    env = gym.make("bcfl/IoV-v1")
    selector = load_selector(policy, env, seed=seed)
    obs, _ = env.reset(seed=seed)
    world = bcfl_env.unwrap(env)
    target = world.config.env.target_accuracy
    reports, epochs, reached, info = 0, 0, None, {}
    while True:
        network = world.world.network
        reports += int(((network.serving >= 0) & network.present).sum())
        obs, _, terminated, truncated, info = env.step(selector.predict(obs)[0])
        epochs += 1
        if info["accuracy"] >= target and reached is None:
            reached = float(info["sim_time_s"])
        if terminated or truncated:
            break
    return {"seed": seed, "time_to_target_s": reached, "final_accuracy": info["accuracy"],
            "messages_per_epoch": reports / epochs}  # fmt: skip


def summary(label: str, episodes: list[dict[str, Any]], budget_s: float) -> dict[str, Any]:
    times = np.array([e["time_to_target_s"] or budget_s for e in episodes])
    low, high = _ci(times)
    return {
        "policy": label, "episodes": len(episodes), "time_iqm_s": float(iqm(times)),
        "ci_low": low, "ci_high": high,
        "reached": float(np.mean([e["time_to_target_s"] is not None for e in episodes])),
        "messages_per_epoch": float(np.mean([e["messages_per_epoch"] for e in episodes])),
        "times": times.tolist(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--timesteps", type=int, default=60000)
    parser.add_argument("--worlds", type=int, default=4)
    parser.add_argument("--backend", choices=("native", "supersuit"), default="native")
    parser.add_argument(
        "--independent-steps", type=int, default=2000,
        help="independent learners: agent steps per RSU per turn (2 turns)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("results/rsu_agents/compare.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = held_out_seeds(args.episodes)
    start = time.perf_counter()
    model = train_shared(
        "iov", args.timesteps, seed=0, num_worlds=args.worlds, backend=args.backend
    )
    train_s = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out.with_name("shared-ppo-iov.zip"))
    env = RSUAgentsEnv(preset="iov")
    budget = env.config.env.sim_time_budget_s
    rows = []
    for name in ("random", "oort"):
        runs = [rsu_episode(env, per_rsu_selectors(env, name, s), s) for s in seeds]
        rows.append(summary(f"decentralised {name} (one per RSU)", runs, budget))
    runs = [rsu_episode(env, lambda o: act_shared(model, env, o), s) for s in seeds]
    rows.append(summary("decentralised shared PPO", runs, budget))
    start = time.perf_counter()
    learners = train_independent("iov", args.independent_steps, turns=2, seed=0)
    independent_s = time.perf_counter() - start
    runs = [rsu_episode(env, act_independent(learners), s) for s in seeds]
    rows.append(summary("decentralised independent PPO", runs, budget))
    for name in ("random", "oort", "shipped"):
        rows.append(summary(f"central {name}", [central_episode(name, s) for s in seeds], budget))
    print(f"shared PPO: {args.timesteps} agent steps on {args.worlds} worlds in {train_s:.0f} s")
    print(
        f"independent PPO: 2 x {args.independent_steps} agent steps per RSU in {independent_s:.0f} s"
    )
    print(
        f"{'policy':<40} {'time to target IQM [s] (95 % CI)':>34} {'reached':>8} {'reports/epoch':>14}"
    )
    for r in rows:
        ci = f"{r['time_iqm_s']:.1f} [{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
        print(f"{r['policy']:<40} {ci:>34} {r['reached']:>8.0%} {r['messages_per_epoch']:>14.1f}")
    result = {"seeds": seeds, "timesteps": args.timesteps, "worlds": args.worlds,
              "backend": args.backend, "train_s": train_s,
              "independent_steps_per_turn": args.independent_steps, "independent_s": independent_s,
              "rows": rows}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
