"""The native vector env against one env, and where a vector step's time goes.

Measures, on IoV-v1 defaults with one torch thread and random actions, in one run and
interleaved (each sample in a fresh process, so peak memory is its own):

* one env of this tree and one env of a reference commit (``--reference``, default the last
  commit before the vector env), checked out as a temporary git worktree;
* ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` at each B of ``--sizes``:
  world-steps/s (B x steps / s) and peak resident memory;
* the same worlds at the profile's B split over ``--workers`` processes
  (:class:`bcfl_env.envs.sb3_workers.SB3WorkerVecEnv`, one thread each): what more cores add;
* a profile of one vector step at the largest-but-one B: milliseconds per world-step in each phase
  (validation, selection, the batched training call, the clock, certification with its Ed25519
  operations counted, aggregation, observation), which bounds what batching more can give.

Ratios are medians of per-repeat ratios (both sides from the same repeat), by wall time and by
each one-thread process's CPU time (which time slices lost to other jobs on a shared machine
hardly move).

Usage: python benchmarks/bench_vec.py [--repeats 3] [--steps 20] [--sizes 1 8 32 64 128]
                                      [--workers 2] [--reference COMMIT] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "58e41e5"  # main before the vector env (the single env the issue measured)
KW = {"max_rounds": 10**6, "target_accuracy": 1.0}

SINGLE = """
import json, resource, time, gymnasium as gym, bcfl_env
env = gym.make("bcfl/IoV-v1", **{kw})
env.reset(seed=0); env.action_space.seed(0)
for _ in range(10): env.step(env.action_space.sample())
start, cpu = time.perf_counter(), time.process_time()
for _ in range({steps}): env.step(env.action_space.sample())
rate = {steps} / (time.perf_counter() - start)
cpu_rate = {steps} / (time.process_time() - cpu)
print(json.dumps({{"rate": rate, "cpu_rate": cpu_rate,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

VECTOR = """
import json, resource, time, gymnasium as gym, bcfl_env
envs = gym.make_vec("bcfl/IoV-v1", num_envs={b}, vectorization_mode="vector_entry_point", **{kw})
envs.reset(seed=0); envs.action_space.seed(0)
for _ in range(3): envs.step(envs.action_space.sample())
start, cpu = time.perf_counter(), time.process_time()
for _ in range({steps}): envs.step(envs.action_space.sample())
rate = {b} * {steps} / (time.perf_counter() - start)
cpu_rate = {b} * {steps} / (time.process_time() - cpu)
print(json.dumps({{"rate": rate, "cpu_rate": cpu_rate,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

WORKERS = """
import json, time, numpy as np
from bcfl_env.envs.sb3_workers import SB3WorkerVecEnv
envs = SB3WorkerVecEnv("bcfl/IoV-v1", {b}, {w}, {kw}); envs.seed(0); envs.reset()
rng = np.random.default_rng(0)
def act(): return rng.uniform(-1, 1, (envs.num_envs, *envs.action_space.shape)).astype(np.float32)
for _ in range(3): envs.step(act())
start = time.perf_counter()
for _ in range({steps}): envs.step(act())
rate = {b} * {steps} / (time.perf_counter() - start)
envs.close()
print(json.dumps({{"rate": rate}}))
"""

PROFILE = """
import json, time, gymnasium as gym, bcfl_env
from collections import defaultdict
from bcfl_env import world as world_mod
from bcfl_env.chain import crypto, permissioned
from bcfl_env.envs import core, vector
from bcfl_env.fl import engine
spent = defaultdict(float); calls = defaultdict(int)
def timed(owner, name, label):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - start; calls[label] += 1
    setattr(owner, name, wrapper)
for owner, name, label in [
    (core.BCFLEnv, "decide", "validate the action"),
    (world_mod.World, "begin_epoch", "select, task on chain, draw batch plans"),
    (vector, "train_together", "local training (one batched call)"),
    (world_mod.World, "complete_training", "hand over trained models"),
    (world_mod.World, "_advance_clock", "clock: mobility, channel, uploads"),
    (permissioned.PermissionedChain, "run_round", "chain round: screen, ballots, consensus"),
    (world_mod.World, "_committee_scores", "members' scores from the validation pass"),
    (world_mod, "forward_together", "validation and test passes (one batched call)"),
    (engine.FLEngine, "aggregate", "aggregate"),
    (core.BCFLEnv, "conclude", "reward, observation, info"),
    (crypto.KeyPair, "sign", "Ed25519 sign"),
]:
    timed(owner, name, label)
import sys
original_verify = crypto.verify_signature
timed(crypto, "verify_signature", "Ed25519 verify")
for module in list(sys.modules.values()):  # every module that imported it by name
    if getattr(module, "verify_signature", None) is original_verify:
        module.verify_signature = crypto.verify_signature
envs = gym.make_vec("bcfl/IoV-v1", num_envs={b}, vectorization_mode="vector_entry_point", **{kw})
envs.reset(seed=0); envs.action_space.seed(0)
for _ in range(3): envs.step(envs.action_space.sample())
spent.clear(); calls.clear()
start = time.perf_counter()
for _ in range({steps}): envs.step(envs.action_space.sample())
total = time.perf_counter() - start
world_steps = {b} * {steps}
print(json.dumps({{"world_steps": world_steps, "total_ms_per_world_step": total / world_steps * 1e3,
                  "ms_per_world_step": {{k: v / world_steps * 1e3 for k, v in spent.items()}},
                  "calls_per_world_step": {{k: c / world_steps for k, c in calls.items()}}}}))
"""


def _run(code: str, tree: Path) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"benchmark process failed in {tree}:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _worktree(commit: str, where: Path) -> Path:
    path = where / "reference"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-f", str(path), commit],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="vector steps per sample")
    parser.add_argument("--single-steps", type=int, default=150)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32, 64, 128])
    parser.add_argument("--reference", default=REFERENCE, help="commit of the reference single env")
    parser.add_argument("--profile-b", type=int, default=64)
    parser.add_argument(
        "--workers", type=int, default=2, help="processes for the split row (0: no such row)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    kw = repr(KW)
    single: list[float] = []
    reference: list[float] = []
    # CPU time of each one-thread process too: on a shared machine, time slices lost to other
    # jobs move wall time by more than the effects measured, CPU time much less
    cpu_gain: list[float] = []
    cpu_ratios: dict[int, list[float]] = {b: [] for b in args.sizes}
    vec: dict[int, list[float]] = {b: [] for b in args.sizes}
    rss: dict[int, list[float]] = {b: [] for b in args.sizes}
    ratios: dict[int, list[float]] = {b: [] for b in args.sizes}
    split: list[float] = []
    split_ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        ref_tree = _worktree(args.reference, Path(tmp)) if args.reference else None
        try:
            for repeat in range(args.repeats):
                code = SINGLE.format(kw=kw, steps=args.single_steps)
                mine = _run(code, ROOT)
                one = mine["rate"]
                single.append(one)
                if ref_tree is not None:
                    theirs = _run(code, ref_tree)
                    reference.append(theirs["rate"])
                    cpu_gain.append(mine["cpu_rate"] / theirs["cpu_rate"])
                for b in args.sizes:
                    sample = _run(VECTOR.format(kw=kw, b=b, steps=args.steps), ROOT)
                    vec[b].append(sample["rate"])
                    rss[b].append(sample["rss_mb"])
                    ratios[b].append(sample["rate"] / one)
                    cpu_ratios[b].append(sample["cpu_rate"] / mine["cpu_rate"])
                if args.workers:
                    code = WORKERS.format(kw=kw, b=args.profile_b, w=args.workers, steps=args.steps)
                    split.append(_run(code, ROOT)["rate"])
                    split_ratios.append(split[-1] / one)
                print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)
        finally:
            if ref_tree is not None:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(ref_tree)],
                    cwd=ROOT, check=False, capture_output=True,
                )  # fmt: skip
    profile = _run(PROFILE.format(kw=kw, b=args.profile_b, steps=max(5, args.steps // 2)), ROOT)
    print(
        f"one env (this tree): {statistics.median(single):.1f} steps/s {[round(v) for v in single]}"
    )
    if reference:
        gain = statistics.median([a / b for a, b in zip(single, reference, strict=True)])
        print(
            f"one env ({args.reference}): {statistics.median(reference):.1f} steps/s; this tree {gain:.2f}x"
            f" (by CPU time {statistics.median(cpu_gain):.2f}x)"
        )
    print(f"{'B':>5} {'world-steps/s':>14} {'vs one env':>11} {'by CPU time':>12} {'peak RSS':>10}")
    for b in args.sizes:
        print(
            f"{b:>5} {statistics.median(vec[b]):>14.1f} {statistics.median(ratios[b]):>10.2f}x"
            f" {statistics.median(cpu_ratios[b]):>11.2f}x {max(rss[b]):>8.0f} MB"
        )
    if split:
        print(
            f"{args.profile_b:>5} {statistics.median(split):>14.1f} "
            f"{statistics.median(split_ratios):>10.2f}x  on {args.workers} worker processes"
        )
    print(
        f"profile of a vector step, B = {args.profile_b} (ms per world-step; total {profile['total_ms_per_world_step']:.2f}):"
    )
    for label, ms in sorted(profile["ms_per_world_step"].items(), key=lambda kv: -kv[1]):
        per = profile["calls_per_world_step"][label]
        print(f"  {label:<45} {ms:6.2f} ms  ({per:.1f} calls)")
    result = {
        "sizes": args.sizes, "single": single, "reference": reference,
        "reference_commit": args.reference, "vector": {str(b): v for b, v in vec.items()},
        "rss_mb": {str(b): v for b, v in rss.items()},
        "ratio": {str(b): statistics.median(r) for b, r in ratios.items()}, "profile": profile,
        "cpu_ratio": {str(b): statistics.median(r) for b, r in cpu_ratios.items()},
        "reference_cpu_gain": statistics.median(cpu_gain) if cpu_gain else None,
        "workers": {"count": args.workers, "b": args.profile_b, "rates": split,
                    "ratio": statistics.median(split_ratios) if split else None},
    }  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
