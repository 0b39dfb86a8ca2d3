"""Steps per second as a user gets them from ``gymnasium.make`` (torch's default thread count in
the process): the env's own ``torch_threads=1`` (default) against ``torch_threads=None`` (torch's
setting, what the env did before). Interleaved fresh processes, medians and their ratio.

Usage: python benchmarks/bench_threads.py [--repeats 3] [--steps 150]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

SCRIPT = """
import sys, time, torch, gymnasium as gym, bcfl_env
threads = None if sys.argv[1] == "None" else int(sys.argv[1])
env = gym.make("bcfl/IoV-v1", max_rounds=10**6, target_accuracy=1.0, torch_threads=threads)
env.reset(seed=0)
env.action_space.seed(0)
for _ in range(20):
    env.step(env.action_space.sample())
start = time.perf_counter()
for _ in range(int(sys.argv[2])):
    env.step(env.action_space.sample())
print(int(sys.argv[2]) / (time.perf_counter() - start), torch.get_num_threads())
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    rates: dict[str, list[float]] = {"1": [], "None": []}
    process_threads = 0
    for _ in range(args.repeats):
        for setting in rates:
            out = subprocess.run(
                [sys.executable, "-c", SCRIPT, setting, str(args.steps)],
                env=env, capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            rates[setting].append(float(out[0]))
            process_threads = int(out[1])
    one, default = statistics.median(rates["1"]), statistics.median(rates["None"])
    print(
        f"process torch threads {process_threads}, {os.cpu_count()} CPUs, {args.repeats} runs each"
    )
    print(
        f"torch_threads=1 (default): {one:.1f} steps/s (median; {sorted(round(r) for r in rates['1'])})"
    )
    print(
        f"torch_threads=None:        {default:.1f} steps/s (median; {sorted(round(r) for r in rates['None'])})"
    )
    print(f"ratio {one / default:.2f}x")


if __name__ == "__main__":
    main()
