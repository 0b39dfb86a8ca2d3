"""The leaderboard's decentralised track: RSUs as agents on every scenario and held-out seed.

Rows (the leaderboard's JSON-lines format, one per episode, plus the messages to the MBS):
``rsu-oort`` (every RSU runs its own Oort on its coverage) and
``rsu-shared-ppo-trained-on-iov`` (one SlotSetPolicy for every RSU, parameter-shared PPO trained
``--timesteps`` agent steps on the IoV preset, evaluated on every scenario without retraining).
Resumable: rows already in ``--out`` are skipped.

Usage: python benchmarks/rsu_track.py [--timesteps 60000] [--worlds 4]
                                      [--out results/leaderboard/v1-rsu-agents.jsonl]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import bcfl_env
from bcfl_env.envs.registration import ENV_IDS
from bcfl_env.envs.rsu_agents import RSUAgentsEnv
from training.multi_agent import act_shared, per_rsu_selectors, rsu_episode, train_shared
from training.suite import SUITE_VERSION, SUITES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, default=60000)
    parser.add_argument("--worlds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("results/leaderboard/v1-rsu-agents.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    done: set[tuple[str, str, int]] = set()
    if args.out.is_file():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done.add((row["policy"], row["scenario"], int(row["seed"])))
    start = time.perf_counter()
    model = train_shared("iov", args.timesteps, seed=0, num_worlds=args.worlds)
    print(f"shared PPO trained in {time.perf_counter() - start:.0f} s", flush=True)
    policies: dict[str, Any] = {
        "rsu-oort": lambda env, seed: per_rsu_selectors(env, "oort", seed),
        "rsu-shared-ppo-trained-on-iov": lambda env, seed: lambda o: act_shared(model, env, o),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for scenario in SUITES["default"]:
        env = RSUAgentsEnv(preset=ENV_IDS[scenario.env_id], **scenario.overrides)
        for label, make in policies.items():
            for seed in scenario.seeds:
                if (label, scenario.name, seed) in done:
                    continue
                episode = rsu_episode(env, make(env, seed), seed)
                row = {
                    "policy": label, "scenario": scenario.name, **episode,
                    "max_rounds": int(env.config.env.max_rounds), "suite_version": SUITE_VERSION,
                    "bcfl_env": bcfl_env.__version__,
                }  # fmt: skip
                with args.out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
            print(f"{scenario.name}: {label} done", flush=True)


if __name__ == "__main__":
    main()
