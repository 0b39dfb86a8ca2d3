"""``make demo``: train PPO on IoV-v1, evaluate it against random and Oort, print the leaderboard.

Budget: the shipped PPO hyperparameters' 40,000 timesteps (about 10 minutes on 2 quiet cores, 20-25 on a
busy machine) and the 10 held-out seeds of the default IoV scenario per policy (under a minute each).
Progress bars show on a terminal. Writes ``results/demo/``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from training.evaluate import evaluate_policy
from training.leaderboard import build_leaderboard, markdown
from training.plots import learning_curve
from training.train import train

__all__ = ["main"]


def main(out: Path = Path("results/demo"), episodes: int = 10, timesteps: int | None = None) -> int:
    import torch

    torch.set_num_threads(1)  # tiny policy and models: one thread is fastest on 2 cores
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    results.unlink(missing_ok=True)
    print(
        "[1/3] training PPO on bcfl/IoV-v1 with the shipped hyperparameters (40,000 steps: about "
        "10 minutes on 2 quiet cores, 20-25 on a busy machine) ...",
        flush=True,
    )
    run = train("ppo", "bcfl/IoV-v1", timesteps, 0, None, {}, out / "runs")
    print(f"      model: {run / 'model.zip'}  ({time.perf_counter() - start:.0f} s)", flush=True)
    print(
        f"[2/3] evaluating PPO, random and Oort on the default IoV scenario ({episodes} held-out "
        "seeds each, under a minute per policy) ...",
        flush=True,
    )
    for policy, label in ((str(run / "model.zip"), "ppo"), ("random", "random"), ("oort", "oort")):
        evaluate_policy(policy, "iov", episodes, results, label)
    print("[3/3] leaderboard and plots ...", flush=True)
    learning_curve(run, out / "learning_curve.png")
    table = build_leaderboard([results], out)
    print(markdown([r for r in table if r["scenario"] == "iov-default"]))
    print(
        f"leaderboard: {out / 'leaderboard.md'}  plots: {out / 'accuracy_vs_time.png'}, "
        f"{out / 'performance_profiles.png'}, {out / 'learning_curve.png'}  ({time.perf_counter() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
