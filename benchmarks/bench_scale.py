"""Env throughput and memory as the population N and the budget K grow (real FL every step).

N sweep (K = 10): N = 100, 1,000, 10,000 slots (vehicles arrive at N / 100 per second so most
slots fill); K sweep (N = 1,000): K = 10, 50, 100. Every configuration runs in a fresh process
(peak memory is its own): reset time, steps/s after a warm-up, peak resident memory, vehicles
present. The FedProx synthetic dataset with a fixed 40,000 samples serves every size of the
sweeps (digits has too few samples for 10,000 identities). Last, the suite's ``iov-city``
scenario itself (1,000 slots, K = 50, digits) and how long the shipped SlotSetPolicy takes to act
on its 1,000 slots. Writes a PNG with both sweeps.

Usage: python benchmarks/bench_scale.py [--steps 20] [--png FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

RUN = """
import json, resource, sys, time
import gymnasium as gym, numpy as np, bcfl_env
n, k, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rsus = max(4, n // 40)
side = max(4, min(100, int(round((4 * rsus) ** 0.5)) + 1))
t = time.perf_counter()
if "city" in sys.argv[4:]:  # the suite's iov-city scenario itself (digits)
    from training.suite import CITY
    env = gym.make("bcfl/IoV-v1", **{**CITY, "max_rounds": 10**6, "target_accuracy": 1.0})
else:
    env = gym.make("bcfl/IoV-v1", num_vehicles=n, fleet_size=n, vehicles_per_round=k, max_rounds=10**6,
                   target_accuracy=1.0, network__road__rows=side, network__road__cols=side,
                   network__infra__num_rsus=rsus, network__mobility__arrival_rate_per_s=n / 100,
                   network__mobility__initial_occupancy=0.8,
                   fl__dataset="synthetic", fl__synthetic_samples=40000)
obs, _ = env.reset(seed=0)
reset_s = time.perf_counter() - t
env.action_space.seed(0)
for _ in range(3):
    obs, *_ = env.step(env.action_space.sample())
start = time.perf_counter()
for _ in range(steps):
    obs, *_ = env.step(env.action_space.sample())
rate = steps / (time.perf_counter() - start)
out = {"n": n, "k": k, "reset_s": reset_s, "steps_per_s": rate,
       "present": int(env.unwrapped.world.network.present.sum()),
       "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
if "policy" in sys.argv[4:]:  # the shipped selector acting on these slots
    from agents import load_selector
    from agents.base import SlotSpec
    policy = load_selector("shipped", SlotSpec.of(env))
    policy.predict(obs)
    t = time.perf_counter()
    for _ in range(10):
        policy.predict(obs)
    out["policy_ms"] = (time.perf_counter() - t) / 10 * 1e3
print(json.dumps(out))
"""


def run(n: int, k: int, steps: int, *flags: str) -> dict[str, Any]:
    cmd = [sys.executable, "-c", RUN, str(n), str(k), str(steps), *flags]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5))
    for i, (key, label) in enumerate((("n", "slots N (K = 10)"), ("k", "budget K (N = 1,000)"))):
        ax = fig.add_subplot(1, 2, i + 1)
        sweep = [r for r in rows if r["sweep"] == key]
        x = [r[key] for r in sweep]
        ax.plot(x, [r["steps_per_s"] for r in sweep], "o-", color="tab:blue")
        ax.set_xscale("log" if key == "n" else "linear")
        ax.set_xlabel(label)
        ax.set_ylabel("steps/s", color="tab:blue")
        twin = ax.twinx()
        twin.plot(x, [r["peak_mib"] for r in sweep], "s--", color="tab:red")
        twin.set_ylabel("peak memory [MiB]", color="tab:red")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--png", type=Path, default=Path(__file__).parent / "scale.png")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    print(f"{'sweep':>5} {'N':>6} {'K':>4} {'present':>8} {'reset s':>8} {'steps/s':>8} {'peak MiB':>9} {'policy ms':>10}")  # fmt: skip
    plan = [("n", 100, 10), ("n", 1000, 10), ("n", 10000, 10), ("k", 1000, 10), ("k", 1000, 50), ("k", 1000, 100), ("city", 1000, 50)]  # fmt: skip
    for sweep, n, k in plan:
        flags = ("city", "policy") if sweep == "city" else ()
        row = {"sweep": sweep, **run(n, k, 2 * args.steps if flags else args.steps, *flags)}
        rows.append(row)
        print(f"{sweep:>5} {n:>6} {k:>4} {row['present']:>8} {row['reset_s']:>8.1f} {row['steps_per_s']:>8.1f} {row['peak_mib']:>9.0f} {row.get('policy_ms', float('nan')):>10.2f}", flush=True)  # fmt: skip
    plot(rows, args.png)
    print(f"plot: {args.png}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
