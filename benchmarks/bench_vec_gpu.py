"""The native vector env with its batched training call on a GPU (device machine).

``fl.device="cuda"``: every world's data and models live on the GPU and the one training call
per vector step runs there (the chain, the clock and the observation stay on the CPU). Prints
world-steps/s at each B against the same vector env on the CPU in the same run.

Usage: python benchmarks/bench_vec_gpu.py [--sizes 8 64 128] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import torch

import bcfl_env  # noqa: F401

KW = {"max_rounds": 10**6, "target_accuracy": 1.0}


def rate(device: str, b: int, steps: int) -> float:
    envs = gym.make_vec("bcfl/IoV-v1", num_envs=b, **KW, **{"fl.device": device})
    envs.reset(seed=0)
    envs.action_space.seed(0)
    for _ in range(3):
        envs.step(envs.action_space.sample())
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        envs.step(envs.action_space.sample())
    if device == "cuda":
        torch.cuda.synchronize()
    envs.close()
    return b * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 64, 128])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on the device machine (benchmarks/gpu_check.sh)")
    torch.set_num_threads(1)
    rows = []
    for b in args.sizes:
        cpu, gpu = rate("cpu", b, args.steps), rate("cuda", b, args.steps)
        rows.append({"B": b, "cpu": cpu, "cuda": gpu, "ratio": gpu / cpu})
        print(
            f"B={b:>4}: cpu {cpu:7.1f} world-steps/s, cuda {gpu:7.1f} ({gpu / cpu:.2f}x)",
            flush=True,
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
