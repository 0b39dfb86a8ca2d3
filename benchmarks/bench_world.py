"""Median time of one world advance (mobility, association, channel) and peak memory.

Usage: python benchmarks/bench_world.py [--repeats 50]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from bcfl_env.config import make_config
from bcfl_env.network import VehicularNetwork
from bcfl_env.seeding import SeedTree


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}
    print(f"{'vehicles':>9} {'rsus':>5} {'median_ms':>10} {'p90_ms':>8}")
    for n in (100, 1_000, 10_000):
        cfg = make_config("iov", num_vehicles=n, vehicles_per_round=1, network__road__rows=12, network__road__cols=12,
                          network__infra__num_rsus=100, chain__committee_size=4,
                          network__mobility__arrival_rate_per_s=n / 100)  # fmt: skip
        tree = SeedTree(0)
        net = VehicularNetwork(
            cfg.network,
            n,
            n,
            {k: tree.generator(k) for k in ("mobility", "channel", "compute", "fleet")},
        )
        net.reset()
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            net.advance(1.0)
            times.append(time.perf_counter() - t)
        samples[str(n)] = times
        print(
            f"{n:>9} {100:>5} {np.median(times) * 1e3:>10.2f} {np.quantile(times, 0.9) * 1e3:>8.2f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"advance_s": samples, "peak_mib": peak}, indent=1))


if __name__ == "__main__":
    main()
