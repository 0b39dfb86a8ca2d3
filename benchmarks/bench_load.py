"""Throughput as users get it: quiet with one thread, with torch's defaults, and with another
process keeping every core busy. Interleaved fresh processes; medians and ratios to the quiet
single-thread rate (target: both >= 50 %).

Usage: python benchmarks/bench_load.py [--repeats 3] [--steps 150] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

STEP = """
import sys, time, gymnasium as gym, bcfl_env
env = gym.make("bcfl/IoV-v1", max_rounds=10**6, target_accuracy=1.0)
env.reset(seed=0)
env.action_space.seed(0)
for _ in range(20):
    env.step(env.action_space.sample())
start = time.perf_counter()
for _ in range(int(sys.argv[1])):
    env.step(env.action_space.sample())
print(int(sys.argv[1]) / (time.perf_counter() - start))
"""

BUSY = "import time\nend = time.time() + 600\nwhile time.time() < end:\n    pass\n"


def rate(steps: int, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", STEP, str(steps)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[0])


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    user = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    quiet = {**user, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rates: dict[str, list[float]] = {"quiet, 1 thread": [], "defaults": [], "defaults, cores busy": []}  # fmt: skip
    cores = os.cpu_count() or 1
    for _ in range(args.repeats):
        rates["quiet, 1 thread"].append(rate(args.steps, quiet))
        rates["defaults"].append(rate(args.steps, user))
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(cores)]
        try:
            rates["defaults, cores busy"].append(rate(args.steps, user))
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()
    base = statistics.median(rates["quiet, 1 thread"])
    result: dict[str, object] = {"cores": cores, "samples": rates, "medians": {}, "ratios": {}}
    print(f"{cores} CPUs, {args.repeats} interleaved runs of {args.steps} steps each")
    for name, values in rates.items():
        median = statistics.median(values)
        result["medians"][name] = median  # type: ignore[index]
        result["ratios"][name] = median / base  # type: ignore[index]
        print(f"{name:>22}: {median:6.1f} steps/s ({median / base:5.0%} of quiet)  {[round(v) for v in values]}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
