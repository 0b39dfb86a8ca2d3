"""One round of local training: batched engine vs the sequential reference, same run.

Digits MLP, 1 epoch, batch 10, K selected vehicles of a 200-vehicle Dirichlet(0.5) partition.
Usage: python benchmarks/bench_fl.py [--device cpu|cuda] [--repeats 5]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from bcfl_env.fl import (
    SGDConfig,
    batched_local_train,
    load_dataset,
    make_batch_plan,
    make_model,
    partition,
    sequential_local_train,
)


def timed(fn, repeats: int, sync) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ks", default="10,50,200")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--no-sequential", action="store_true")
    parser.add_argument(
        "--image28",
        action="store_true",
        help="time on random 1x28x28 inputs (MNIST-sized), timing only",
    )
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    data = load_dataset("digits", rng)
    x_np, y_np = data.x_train, data.y_train
    if args.image28:
        x_np = rng.random((6000, 1, 28, 28), dtype=np.float32)
        y_np = rng.integers(0, 10, 6000)
    spec = make_model(args.model, tuple(x_np.shape[1:]), 10)
    ks = [int(k) for k in args.ks.split(",")]
    if max(ks) > len(y_np) // 2:  # more vehicles than samples: each gets 7 random samples
        indices = [rng.choice(len(y_np), 7, replace=False) for _ in range(max(ks))]
    else:
        indices = partition(y_np, max(200, max(ks)), rng, "dirichlet", 0.5).indices
    x, y = torch.as_tensor(x_np, device=device), torch.as_tensor(y_np, device=device)
    sgd = SGDConfig(1, 10, 0.05)
    print(f"{'K':>6} {'batched_ms':>11} {'sequential_ms':>14} {'speed-up':>9}")
    for k in ks:
        plan = make_batch_plan(indices[:k], 1, 10, rng)
        init = spec.init(torch.Generator().manual_seed(0)).to(device).expand(k, -1).contiguous()
        batched_local_train(spec, init, x, y, plan, sgd)  # warm-up
        b = timed(lambda: batched_local_train(spec, init, x, y, plan, sgd), args.repeats, sync)
        if args.no_sequential:
            print(f"{k:>6} {b * 1e3:>11.2f}")
            continue
        sequential_local_train(
            spec, init[:1].cpu(), x.cpu(), y.cpu(), make_batch_plan(indices[:1], 1, 10, rng), sgd
        )
        s = timed(
            lambda: sequential_local_train(spec, init.cpu(), x.cpu(), y.cpu(), plan, sgd),
            max(1, args.repeats // 2),
            lambda: None,
        )
        print(f"{k:>6} {b * 1e3:>11.2f} {s * 1e3:>14.1f} {s / b:>8.1f}x")
    print(
        f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    if device.type == "cuda":
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
