"""Summarise the deployment loop against the baselines on many Flower seeds.

Reads the per-seed JSON files ``examples/flower_selector.py --json`` wrote (one per seed, each
with the policies ``calibrated``, ``random``, ``oort`` and ``ppo``) and prints, per policy, the
simulated time to the target on every seed and its median, and for the calibrated loop the
paired relative difference against each other policy: the median over seeds of
``t_calibrated / t_other - 1`` with a 95 % bootstrap interval (10,000 resamples of the seeds).
A run that never reached the target counts as infinitely slow (a difference of -100 % or
+inf); medians and percentiles handle a few of them.

``--simulate N`` also asks the simulator what it predicted: for every seed whose calibrated
scenario and trained model lie in ``seedS/`` beside the JSON files (``scenario.yaml``,
``model.zip`` and its ``manifest.json``), random, Oort and the trained selector run N episodes of
that scenario (held-out seeds 1000...), and the predicted median gain of the trained selector
over each is printed beside the one Flower realised: the gap between them is the
simulator-to-deployment gap of that seed.

Run (after the seeds ran, e.g. ``for s in 0 1 ... 9: examples/flower_selector.py --seeds $s
--json results/flower_loop/seed$s.json``):

    .venv/bin/python benchmarks/flower_loop.py results/flower_loop/*.json --simulate 12
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

POLICIES = {"calibrated": "calibrated loop", "random": "random", "oort": "Oort", "ppo": "IoV-trained PPO"}  # fmt: skip


def relative(ours: float, theirs: float) -> float:
    """t_ours / t_theirs - 1, with a run that never reached the target infinitely slow."""
    if math.isinf(ours) and math.isinf(theirs):
        return 0.0
    if math.isinf(ours):
        return math.inf
    if math.isinf(theirs):
        return -1.0
    return ours / theirs - 1.0


def bootstrap_median(values: np.ndarray, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:  # fmt: skip
    rng = np.random.default_rng(seed)
    draws = rng.choice(values, size=(resamples, values.size), replace=True)
    medians = np.median(draws, axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def read_runs(files: list[Path]) -> tuple[dict[str, dict[int, float]], dict[int, Any], list[bool]]:
    """Every policy's time to target per seed, the loops' details and each file's audit flag,
    from the example's JSON files (others, such as this script's own summary, are skipped)."""
    times: dict[str, dict[int, float]] = {p: {} for p in POLICIES}
    loops: dict[int, dict[str, Any]] = {}
    audits = []
    for file in files:
        data = json.loads(file.read_text())
        if "time_to_target_s" not in data:
            continue  # not a run's file (this script's own summary, the twin's)
        for policy in POLICIES:
            for seed, value in data["time_to_target_s"].get(policy, {}).items():
                times[policy][int(seed)] = float(value)
        for seed, info in data.get("loops", {}).items():
            loops[int(seed)] = info
        audits.append(bool(data.get("audits_passed", False)))
    return times, loops, audits


def summarise(files: list[Path]) -> dict[str, Any]:
    times, loops, audits = read_runs(files)
    seeds = sorted(set.intersection(*(set(t) for t in times.values())))
    if not seeds:
        raise SystemExit("no seed has every policy")
    out: dict[str, Any] = {"seeds": seeds, "audits_passed": all(audits), "policies": {}}
    for policy, label in POLICIES.items():
        values = [times[policy][s] for s in seeds]
        out["policies"][label] = {"times": values, "median": float(np.median(values))}
    versus = {}
    for policy, label in POLICIES.items():
        if policy == "calibrated":
            continue
        diffs = np.array([relative(times["calibrated"][s], times[policy][s]) for s in seeds])
        low, high = bootstrap_median(diffs)
        versus[label] = {
            "median": float(np.median(diffs)), "ci95": [low, high],
            "wins": int((diffs < 0).sum()), "seeds": len(seeds),
        }  # fmt: skip
    out["calibrated_vs"] = versus
    train = [float(v["train_wall_s"]) for v in loops.values() if "train_wall_s" in v]
    out["train_wall_s_median"] = float(np.median(train)) if train else None
    return out


def simulate(folder: Path, episodes: int) -> dict[str, float]:
    """Median simulated time to target of random, Oort and the trained selector on the seed's
    calibrated scenario (``episodes`` held-out seeds; an episode that misses counts its time)."""
    import gymnasium as gym

    from agents import load_selector
    from bcfl_env.scenario import CUSTOM_ENV_ID
    from training.rollout import held_out_seeds, run_episode
    from training.rollout import time_to_target as episode_time

    env = gym.make(CUSTOM_ENV_ID, scenario=str(folder / "scenario.yaml"))
    medians = {}
    for policy in ("random", "oort", "calibrated"):
        selector = load_selector(folder / "model.zip" if policy == "calibrated" else policy, env)
        times = [episode_time(run_episode(env, selector, s)) for s in held_out_seeds(episodes)]
        medians[policy] = float(np.median(times))
    env.close()
    return medians


def predicted_vs_realised(files: list[Path], episodes: int) -> dict[int, dict[str, Any]]:
    """Per seed with its artefacts: the simulator's predicted relative gain of the trained
    selector over random and Oort, and the one Flower realised (warm-up included)."""
    times = read_runs(files)[0]
    out = {}
    for seed in sorted(set.intersection(*(set(t) for t in times.values()))):
        folder = files[0].parent / f"seed{seed}"
        if not (folder / "model.zip").is_file():
            continue
        sim = simulate(folder, episodes)
        out[seed] = {
            "simulated_s": sim,
            "predicted": {b: sim["calibrated"] / sim[b] - 1 for b in ("random", "oort")},
            "realised": {b: relative(times["calibrated"][seed], times[b][seed]) for b in ("random", "oort")},
        }  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--simulate", type=int, default=0, metavar="N",
                        help="also run N simulated episodes per seed's calibrated scenario")  # fmt: skip
    args = parser.parse_args(argv)
    summary = summarise(args.files)
    seeds = summary["seeds"]
    print(f"Simulated time to 80 % on {len(seeds)} Flower seeds (s; inf: not reached in the run)")
    print("| policy | " + " | ".join(f"seed {s}" for s in seeds) + " | median |")
    print("|---|" + "---|" * (len(seeds) + 1))
    for label, row in summary["policies"].items():
        print(f"| {label} | " + " | ".join(f"{t:.1f}" for t in row["times"]) + f" | {row['median']:.1f} |")  # fmt: skip
    print("\nCalibrated loop (warm-up included) against each policy, paired by seed:")
    print("| against | median of t_cal / t - 1 | 95 % bootstrap CI | seeds faster |")
    print("|---|---|---|---|")
    for label, row in summary["calibrated_vs"].items():
        low, high = row["ci95"]
        print(f"| {label} | {row['median']:+.1%} | [{low:+.1%}, {high:+.1%}] | {row['wins']} of {row['seeds']} |")  # fmt: skip
    print(f"\nevery ledger passed bcfl audit --deep: {summary['audits_passed']}")
    if summary["train_wall_s_median"] is not None:
        print(f"median training wall time per seed: {summary['train_wall_s_median']:.0f} s")
    if args.simulate:
        gaps = predicted_vs_realised(args.files, args.simulate)
        summary["predicted_vs_realised"] = gaps
        print(f"\nWhat the calibrated simulator predicted ({args.simulate} episodes per seed) and what "
              "Flower realised: t_cal / t - 1")  # fmt: skip
        print("| seed | predicted vs random | realised vs random | predicted vs Oort | realised vs Oort |")  # fmt: skip
        print("|---|---|---|---|---|")
        for seed, row in gaps.items():
            p, r = row["predicted"], row["realised"]
            print(f"| {seed} | {p['random']:+.1%} | {r['random']:+.1%} | {p['oort']:+.1%} | {r['oort']:+.1%} |")  # fmt: skip
        if gaps:
            med = {k: float(np.median([g[w][b] for g in gaps.values()])) for k, (w, b) in {
                "predicted_random": ("predicted", "random"), "realised_random": ("realised", "random"),
                "predicted_oort": ("predicted", "oort"), "realised_oort": ("realised", "oort")}.items()}  # fmt: skip
            summary["predicted_vs_realised_median"] = med
            print(f"| median | {med['predicted_random']:+.1%} | {med['realised_random']:+.1%} | "
                  f"{med['predicted_oort']:+.1%} | {med['realised_oort']:+.1%} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
