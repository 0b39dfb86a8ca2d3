"""Aggregate evaluation results: interquartile mean with 95 % bootstrap CIs (SciPy), tables and plots."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["build_leaderboard", "iqm"]


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return stats.trim_mean(values, 0.25, axis=axis)


def _ci(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    if values.size < 2 or np.all(values == values[0]):
        return float(values.mean()), float(values.mean())
    res = stats.bootstrap(
        (values,),
        iqm,
        n_resamples=2000,
        confidence_level=0.95,
        random_state=seed,
        method="percentile",
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _time_metric(row: dict[str, Any]) -> float:
    """Simulated time to target; an episode that never reached it counts its whole time."""
    return float(
        row["time_to_target_s"] if row["time_to_target_s"] is not None else row["sim_time_s"]
    )


def build_leaderboard(paths: list[Path], out_dir: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for p in paths for line in p.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError("no results found in the given files")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["policy"], row["scenario"])].append(row)
        groups[(row["policy"], "ALL")].append(row)
    table = []
    for (policy, scenario), items in sorted(groups.items()):
        t = np.array([_time_metric(r) for r in items])
        acc = np.array([r["final_accuracy"] for r in items])
        ret = np.array([r["return"] for r in items])
        lo, hi = _ci(t)
        table.append({
            "policy": policy, "scenario": scenario, "episodes": len(items),
            "time_to_target_iqm_s": float(iqm(t)), "time_ci_low": lo, "time_ci_high": hi,
            "reached": float(np.mean([r["time_to_target_s"] is not None for r in items])),
            "final_accuracy_iqm": float(iqm(acc)), "return_iqm": float(iqm(ret)),
            "energy_j_mean": float(np.mean([r["energy_j"] for r in items])),
            "poisoned_accepted": int(sum(r["poisoned_accepted"] for r in items)),
        })  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "leaderboard.json").write_text(json.dumps(table, indent=2))
    with (out_dir / "leaderboard.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    (out_dir / "leaderboard.md").write_text(markdown(table))
    _plot(rows, out_dir / "accuracy_vs_time.png")
    return table


def markdown(table: list[dict[str, Any]]) -> str:
    lines = [
        "| policy | scenario | episodes | time to target IQM [s] | 95 % CI | reached | final acc IQM | return IQM | energy [J] | poisoned accepted |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(
            f"| {r['policy']} | {r['scenario']} | {r['episodes']} | {r['time_to_target_iqm_s']:.1f} | "
            f"[{r['time_ci_low']:.1f}, {r['time_ci_high']:.1f}] | {r['reached']:.0%} | {r['final_accuracy_iqm']:.3f} | "
            f"{r['return_iqm']:.2f} | {r['energy_j_mean']:.1f} | {r['poisoned_accepted']} |"
        )
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    by_policy: dict[str, list[list[tuple[float, float]]]] = defaultdict(list)
    for r in rows:
        by_policy[r["policy"]].append(r["curve"])
    grid = np.linspace(0, max(max(t for t, _ in c) for cs in by_policy.values() for c in cs), 100)
    for policy, curves in sorted(by_policy.items()):
        interp = [np.interp(grid, [t for t, _ in c], [a for _, a in c]) for c in curves]
        ax.plot(grid, np.mean(interp, axis=0), label=policy)
    ax.set_xlabel("simulated time [s]")
    ax.set_ylabel("global test accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
