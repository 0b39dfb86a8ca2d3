"""Aggregate evaluation results: interquartile mean with 95 % bootstrap CIs (SciPy), tables and plots."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["build_leaderboard", "check_submission", "iqm", "probability_of_improvement"]


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return stats.trim_mean(values, 0.25, axis=axis)


def _ci(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap CI of the IQM of one sample."""
    if values.size < 2 or np.all(values == values[0]):
        return float(iqm(values)), float(iqm(values))
    res = stats.bootstrap(
        (values,),
        iqm,
        n_resamples=2000,
        confidence_level=0.95,
        random_state=seed,
        method="percentile",
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _stratified_ci(strata: list[np.ndarray], seed: int = 0) -> tuple[float, float]:
    """95 % CI of the IQM over all episodes, resampling within each scenario (stratified bootstrap).

    SciPy's multi-sample bootstrap resamples every sample independently, which is exactly a
    bootstrap stratified by scenario when each scenario is one sample.
    """
    pooled = np.concatenate(strata)
    if len(strata) == 1 or any(s.size < 2 for s in strata):
        return _ci(pooled, seed)
    if np.all(pooled == pooled[0]):
        return float(pooled[0]), float(pooled[0])

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return iqm(np.concatenate(samples, axis=axis), axis=axis)

    res = stats.bootstrap(tuple(strata), statistic, n_resamples=2000, confidence_level=0.95, random_state=seed,
                          method="percentile", vectorized=True)  # fmt: skip
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


COMPARED_WITH = "oort"  # the strongest baseline; the ALL row reports P(better than it)
References = dict[str, tuple[float, float]]  # scenario -> (reference time, time budget) [s]


def _time_metric(row: dict[str, Any], budget_s: float) -> float:
    """Simulated time to target; an episode that never reached it is charged the scenario's
    whole simulated-time budget (the penalty rule), however early it was cut off."""
    reached = row["time_to_target_s"]
    return float(reached) if reached is not None else float(budget_s)


def normalised_times(rows: list[dict[str, Any]], references: References) -> np.ndarray:
    """Each episode's time to target (or penalty) over its scenario's fixed reference time: the
    random policy's IQM, stored with the suite. 1 is random's level, lower is better; a row's
    value never depends on the other rows."""
    out = []
    for r in rows:
        reference, budget = references[r["scenario"]]
        out.append(_time_metric(r, budget) / reference)
    return np.array(out)


def probability_of_improvement(rows: list[dict[str, Any]], baseline: str) -> dict[str, float]:
    """P(a policy's episode reaches the target sooner than the baseline's), per policy.

    The probability of improvement of Agarwal et al. (NeurIPS 2021): for each scenario both ran,
    the Mann-Whitney probability that a random episode of the policy has a lower normalised time
    than a random episode of the baseline (ties count half), averaged over those scenarios. Empty
    when the baseline is absent.
    """
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        times[(r["policy"], r["scenario"])].append(r["normalised_time"])
    out: dict[str, float] = {}
    for policy in {p for p, _ in times}:
        per_scenario = []
        for (p, scenario), mine in times.items():
            theirs = times.get((baseline, scenario))
            if p != policy or not theirs:
                continue
            a, b = np.array(mine)[:, None], np.array(theirs)[None, :]
            per_scenario.append(float(((a < b) + 0.5 * (a == b)).mean()))
        if per_scenario:
            out[policy] = float(np.mean(per_scenario))
    return out


def _references(rows: list[dict[str, Any]], given: References | None) -> References:
    from training.suite import scenario_reference

    refs = dict(given or {})
    for name in {r["scenario"] for r in rows} - set(refs):
        refs[name] = scenario_reference(name)
    for name, (reference, budget) in refs.items():
        if not (reference > 0 and budget > 0):
            raise ValueError(f"scenario {name!r} has no reference time (got {reference})")
    return refs


def _refuse_duplicates(rows: list[dict[str, Any]]) -> None:
    seen: dict[tuple[str, str, int], int] = defaultdict(int)
    for r in rows:
        seen[(r["policy"], r["scenario"], int(r["seed"]))] += 1
    twice = sorted(k for k, n in seen.items() if n > 1)
    if twice:
        shown = ", ".join(f"{p}/{s}/seed {seed}" for p, s, seed in twice[:5])
        raise ValueError(
            f"duplicate episodes ({len(twice)}: {shown}): each (policy, scenario, seed) must "
            "appear once; remove the repeated lines or give the runs different labels"
        )


def build_leaderboard(
    paths: list[Path], out_dir: Path, references: References | None = None
) -> list[dict[str, Any]]:
    """Aggregate JSON-lines results into leaderboard.md / .csv / .json and two plots.

    Per scenario: IQM of the simulated time to target with a 95 % bootstrap CI, an episode that
    never reached the target charged the scenario's time budget. Across the suite (row ``ALL``):
    IQM of the normalised time (:func:`normalised_times`: over the scenario's fixed reference, 1
    is the random policy's level, lower is better) with a CI from a bootstrap stratified by
    scenario. Policies are ranked by that IQM. ``references`` overrides the suite's reference and
    budget per scenario (for scenarios outside the suite).

    Raises:
        ValueError: no rows, a duplicate (policy, scenario, seed), or a scenario without a
            reference.
    """
    rows = [json.loads(line) for p in paths for line in p.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError("no results found in the given files")
    _refuse_duplicates(rows)
    refs = _references(rows, references)
    norm = normalised_times(rows, refs)
    for r, n in zip(rows, norm, strict=True):
        r["normalised_time"] = float(n)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["policy"], row["scenario"])].append(row)
        groups[(row["policy"], "ALL")].append(row)
    table = []
    for (policy, scenario), items in sorted(groups.items()):
        t = np.array([_time_metric(r, refs[r["scenario"]][1]) for r in items])
        nt = np.array([r["normalised_time"] for r in items])
        if scenario == "ALL":
            by_scenario: dict[str, list[float]] = defaultdict(list)
            for r in items:
                by_scenario[r["scenario"]].append(r["normalised_time"])
            lo, hi = _stratified_ci([np.array(v) for _, v in sorted(by_scenario.items())])
            time_iqm, time_lo, time_hi = float("nan"), float("nan"), float("nan")
        else:
            lo, hi = _ci(nt)
            time_iqm, (time_lo, time_hi) = float(iqm(t)), _ci(t)
        table.append({
            "policy": policy, "scenario": scenario, "episodes": len(items),
            "time_to_target_iqm_s": time_iqm, "time_ci_low": time_lo, "time_ci_high": time_hi,
            "normalised_time_iqm": float(iqm(nt)), "normalised_ci_low": lo, "normalised_ci_high": hi,
            "reached": float(np.mean([r["time_to_target_s"] is not None for r in items])),
            "final_accuracy_iqm": float(iqm(np.array([r["final_accuracy"] for r in items]))),
            "return_iqm": float(iqm(np.array([r["return"] for r in items]))),
            "energy_j_mean": float(np.mean([r["energy_j"] for r in items])),
            "poisoned_accepted": int(sum(r["poisoned_accepted"] for r in items)),
        })  # fmt: skip
    improvement = probability_of_improvement(rows, COMPARED_WITH)
    for r in table:
        suite_wide = r["scenario"] == "ALL"
        r[f"p_better_than_{COMPARED_WITH}"] = (
            improvement.get(str(r["policy"]), float("nan")) if suite_wide else float("nan")
        )
    # ranked: policies by their suite-wide normalised IQM (lower first), ALL before scenarios
    rank = {r["policy"]: r["normalised_time_iqm"] for r in table if r["scenario"] == "ALL"}
    table.sort(
        key=lambda r: (rank[r["policy"]], r["policy"], r["scenario"] != "ALL", r["scenario"])
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "leaderboard.json").write_text(json.dumps(table, indent=2))
    with (out_dir / "leaderboard.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    (out_dir / "leaderboard.md").write_text(markdown(table))
    _plot(rows, out_dir / "accuracy_vs_time.png")
    _plot_profiles(rows, out_dir / "performance_profiles.png")
    return table


def markdown(table: list[dict[str, Any]]) -> str:
    lines = [
        "| policy | scenario | episodes | time to target IQM [s] (95 % CI) | normalised time IQM (95 % CI) "
        "| reached | final acc IQM | return IQM | energy [J] | poisoned accepted |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        time = "-" if np.isnan(r["time_to_target_iqm_s"]) else (
            f"{r['time_to_target_iqm_s']:.1f} [{r['time_ci_low']:.1f}, {r['time_ci_high']:.1f}]"
        )  # fmt: skip
        lines.append(
            f"| {r['policy']} | {r['scenario']} | {r['episodes']} | {time} | {r['normalised_time_iqm']:.3f} "
            f"[{r['normalised_ci_low']:.3f}, {r['normalised_ci_high']:.3f}] | {r['reached']:.0%} | "
            f"{r['final_accuracy_iqm']:.3f} | {r['return_iqm']:.2f} | {r['energy_j_mean']:.1f} | {r['poisoned_accepted']} |"
        )
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Mean accuracy against simulated time, one panel per scenario, its target drawn."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend stays as it is

    from training.suite import scenario_target

    scenarios = sorted({r.get("scenario", "") for r in rows})
    fig = Figure(figsize=(5 * min(len(scenarios), 3), 3.6 * ((len(scenarios) + 2) // 3)))
    for k, scenario in enumerate(scenarios):
        ax = fig.add_subplot((len(scenarios) + 2) // 3, min(len(scenarios), 3), k + 1)
        by_policy: dict[str, list[list[tuple[float, float]]]] = defaultdict(list)
        for r in rows:
            if r.get("scenario", "") == scenario:
                by_policy[r["policy"]].append(r["curve"])
        end = max(max(t for t, _ in c) for cs in by_policy.values() for c in cs)
        grid = np.linspace(0, max(end, 1e-9), 100)
        for policy, curves in sorted(by_policy.items()):
            interp = [np.interp(grid, [t for t, _ in c], [a for _, a in c]) for c in curves]
            ax.plot(grid, np.mean(interp, axis=0), label=policy)
        target = scenario_target(scenario) if scenario else None
        if target is not None:
            ax.axhline(target, ls="--", c="k", lw=0.8, label="target")
        ax.set_title(scenario or "all")
        ax.set_xlabel("simulated time [s]")
        ax.set_ylabel("global test accuracy")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _plot_profiles(rows: list[dict[str, Any]], path: Path) -> None:
    """Performance profiles (Agarwal et al., NeurIPS 2021): the fraction of episodes that reached
    the target in at most tau times the scenario's reference time, per policy (higher and further
    left is better); an episode that never reached it counts for no tau."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend stays as it is

    taus = np.linspace(0, 2, 201)
    by_policy: dict[str, list[float]] = defaultdict(list)
    for r in rows:  # an episode that never reached the target never counts as reached
        reached = r.get("time_to_target_s", 0.0) is not None
        by_policy[r["policy"]].append(r["normalised_time"] if reached else np.inf)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for policy, values in sorted(by_policy.items()):
        v = np.array(values)
        ax.plot(taus, [(v <= t).mean() for t in taus], label=policy)
    ax.set_xlabel("time to target / random's reference, tau")
    ax.set_ylabel("fraction of episodes with time <= tau")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def check_submission(paths: list[Path], suite: str) -> str:
    """Validate results files as a submission to ``suite``; returns a one-line summary.

    Every row must belong to a scenario of the suite and carry the current suite version; every
    policy must cover every scenario with every held-out seed exactly once.

    Raises:
        ValueError: the first problem found, in one line.
    """
    from training.suite import SUITE_VERSION, SUITES

    if suite not in SUITES:
        raise ValueError(f"suite {suite!r} is not allowed: choose one of {sorted(SUITES)}")
    rows = []
    for path in paths:
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n} is not JSON ({exc.msg})") from None
    if not rows:
        raise ValueError("no results found in the given files")
    _refuse_duplicates(rows)
    expected = {s.name: set(s.seeds) for s in SUITES[suite]}
    seen: dict[tuple[str, str], set[int]] = defaultdict(set)
    for r in rows:
        if r.get("scenario") not in expected:
            raise ValueError(f"scenario {r.get('scenario')!r} is not in suite {suite!r}")
        if r.get("suite_version") != SUITE_VERSION:
            raise ValueError(
                f"{r['policy']}/{r['scenario']}/seed {r.get('seed')}: suite version "
                f"{r.get('suite_version')!r}, expected {SUITE_VERSION} (re-run bcfl evaluate)"
            )
        seen[(r["policy"], r["scenario"])].add(int(r["seed"]))
    for policy in sorted({r["policy"] for r in rows}):
        for scenario, seeds in expected.items():
            missing = sorted(seeds - seen.get((policy, scenario), set()))
            extra = sorted(seen.get((policy, scenario), set()) - seeds)
            if missing or extra:
                raise ValueError(
                    f"{policy}/{scenario}: seeds missing {missing[:5]} and not held out {extra[:5]}"
                )
    policies = len({r["policy"] for r in rows})
    return f"OK: {len(rows)} episodes, {policies} polic{'y' if policies == 1 else 'ies'}, suite {suite!r} v{SUITE_VERSION}"
