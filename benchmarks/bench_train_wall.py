"""PPO's wall time to 40k steps on IoV-v1, one env against many worlds, and each model's quality.

Trains PPO with the shipped recipe (SlotSetPolicy, 512-step rollouts, everything else from
``training/hyperparams/ppo.yml``) once per layout, each run ``bcfl train`` in its own process,
one after another, timed from start to the saved model:

* ``one env``: the shipped recipe as it ships (``n_envs: 1``, ``n_steps: 512``), the reference;
* ``8 worlds``: the native vector env, 8 worlds stepped in one call (``n_steps=64``);
* ``8 worlds, W workers``: the same 8 worlds split over W processes (``--workers W``).

Then every model, and the shipped one, is evaluated on held-out seeds of IoV-v1 (50 from seed
1000, as ``bench_shipped.py``): the IQM simulated time to target against random's, with the
paired bootstrap CI over held-out seeds. "Matches the shipped model's quality" reads as: the
ratio lies within the shipped model's CI.

Usage: python benchmarks/bench_train_wall.py [--timesteps 40000] [--seeds 0] [--workers 2]
                                             [--episodes 50] [--layouts one-env 8-worlds ...]
                                             [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import bcfl_env  # noqa: F401
from training.rollout import held_out_seeds, iqm, paired_summary, policy_times

ROOT = Path(__file__).resolve().parents[1]


def layouts(workers: int) -> dict[str, list[str]]:
    vector = ["--num-envs", "8", "--hyperparams", "n_steps=64"]
    return {
        "one-env": ["--num-envs", "1"],
        "8-worlds": vector,
        f"8-worlds-{workers}-workers": ["--workers", str(workers), *vector],
    }


def train_once(args: list[str], seed: int, timesteps: int, runs: Path) -> tuple[float, Path]:
    command = [
        sys.executable, "-m", "training.cli", "train", "--algo", "ppo", "--env", "bcfl/IoV-v1",
        "--timesteps", str(timesteps), "--seed", str(seed), "--runs-dir", str(runs),
        "--checkpoint-every", str(timesteps), "--no-progress", *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    run = Path(out.stdout.strip().splitlines()[-1].removeprefix("run directory: "))
    return wall, run / "model.zip"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timesteps", type=int, default=40_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--layouts", nargs="+", help="which layouts (default: all three)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    chosen = layouts(args.workers)
    names = args.layouts or list(chosen)
    unknown = sorted(set(names) - set(chosen))
    if unknown:
        raise SystemExit(f"unknown layouts {unknown}: choose from {sorted(chosen)}")
    rows: list[dict[str, object]] = []
    walls: dict[str, list[float]] = {}
    models: dict[str, list[Path]] = {}
    with tempfile.TemporaryDirectory(prefix="bcfl-wall-") as tmp:
        for seed in args.seeds:
            for name in names:
                wall, model = train_once(chosen[name], seed, args.timesteps, Path(tmp) / name)
                rows.append({"layout": name, "seed": seed, "wall_s": wall})
                walls.setdefault(name, []).append(wall)
                models.setdefault(name, []).append(model)
                print(f"{name} seed {seed}: {wall:.0f} s", flush=True)
        seeds = held_out_seeds(args.episodes, 1000)
        rand = policy_times("random", seeds)
        quality: dict[str, dict[str, float]] = {}
        for name, paths in [("shipped", ["shipped"]), *models.items()]:
            times = np.stack([policy_times(str(p), seeds) for p in paths])
            ratio, low, high, wins = paired_summary(times, rand)
            quality[name] = {"ratio": ratio, "low": low, "high": high, "iqm_s": iqm(times.ravel())}
    print(
        f"\nPPO, {args.timesteps} steps on IoV-v1, training seeds {args.seeds}, one run at a time"
    )
    print("| layout | wall (median over seeds) | vs one env | time to target / random [95 % CI] |")
    print("|---|---:|---:|---|")
    reference = None
    for name in ["shipped", *names]:
        wall = float(np.median(walls[name])) if name in walls else None
        if name == "one-env":
            reference = wall
        speed = f"{reference / wall:.2f}x" if reference and wall else "-"
        q = quality[name]
        shown = f"{wall:.0f} s" if wall else "-"
        print(
            f"| {name} | {shown} | {speed} | {q['ratio']:.3f} [{q['low']:.3f}, {q['high']:.3f}] |"
        )
    if args.json:
        args.json.write_text(json.dumps({"runs": rows, "quality": quality}, indent=2))


if __name__ == "__main__":
    main()
