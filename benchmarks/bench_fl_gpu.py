"""GPU timing of one round of batched local training (device machine; needs torch only).

Imports ``bcfl_env/fl/models.py`` and ``training.py`` without the package's other dependencies,
and times on random inputs of the anchor shapes (timing only, no learning claim):
MLP 64-32-10 on 8x8 inputs with K = 10, 1,000, 10,000; LeNet-style CNN on 1x28x28 with K = 100, 1,000.
Usage: python benchmarks/bench_fl_gpu.py
"""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
for name, sub in (("bcfl_env", "bcfl_env"), ("bcfl_env.fl", "bcfl_env/fl")):
    module = types.ModuleType(name)
    module.__path__ = [str(ROOT / sub)]  # type: ignore[attr-defined]
    sys.modules.setdefault(name, module)

from bcfl_env.fl.models import make_model  # noqa: E402
from bcfl_env.fl.training import SGDConfig, batched_local_train, make_batch_plan  # noqa: E402


def bench(
    model: str,
    shape: tuple[int, ...],
    ks: list[int],
    samples_per_vehicle: int = 7,
    repeats: int = 7,
    conv_impl: str = "auto",
) -> None:
    device = torch.device("cuda")
    rng = np.random.default_rng(0)
    n = 60_000
    x = torch.rand((n, *shape), device=device)
    y = torch.randint(0, 10, (n,), device=device)
    spec = make_model(model, shape, 10, conv_impl=conv_impl)
    sgd = SGDConfig(1, 10, 0.05)
    for k in ks:
        indices = [rng.choice(n, samples_per_vehicle, replace=False) for _ in range(k)]
        plan = make_batch_plan(indices, 1, 10, rng)
        init = spec.init(torch.Generator().manual_seed(0)).to(device).expand(k, -1).contiguous()
        for _ in range(2):
            batched_local_train(spec, init, x, y, plan, sgd)
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            batched_local_train(spec, init, x, y, plan, sgd)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        print(
            f"{model:>4} {str(shape):>12} K={k:>6}: median {np.median(times) * 1e3:8.2f} ms per round ({plan.steps} steps)"
        )


def agreement() -> None:
    """CUDA results equal CPU results (same plan, same start) for every model and kernel."""
    rng = np.random.default_rng(1)
    x = torch.rand((500, 1, 28, 28))
    y = torch.randint(0, 10, (500,))
    indices = [rng.choice(500, n, replace=False) for n in (5, 13, 27, 40)]
    plan = make_batch_plan(indices, 2, 10, rng)
    sgd = SGDConfig(2, 10, 0.05, 0.9, 1e-3)
    for kind, impl in (("mlp", "auto"), ("cnn", "grouped"), ("cnn", "im2col")):
        spec = make_model(kind, (1, 28, 28), 10, conv_impl=impl)
        init = torch.stack([spec.init(torch.Generator().manual_seed(i)) for i in range(4)])
        cpu, _ = batched_local_train(spec, init, x, y, plan, sgd)
        gpu, _ = batched_local_train(spec, init.cuda(), x.cuda(), y.cuda(), plan, sgd)
        err = (gpu.cpu() - cpu).abs().max().item()
        print(f"agreement {kind:>4} {impl:>7}: max |cuda - cpu| = {err:.2e}")


if __name__ == "__main__":
    print(torch.__version__, torch.cuda.get_device_name(0))
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 as specified
    torch.backends.cudnn.allow_tf32 = False
    agreement()
    bench("mlp", (1, 8, 8), [10, 1000, 10000])
    torch.backends.cudnn.benchmark = True
    for impl in ("grouped", "im2col"):
        bench("cnn", (1, 28, 28), [100, 1000], conv_impl=impl)
    print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
