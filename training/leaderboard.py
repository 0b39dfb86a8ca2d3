"""Aggregate evaluation results into the leaderboard: tables and plots.

The statistics follow Agarwal et al. (NeurIPS 2021) and use their library, rliable: the
interquartile mean across the suite with a 95 % stratified-bootstrap CI, the probability of
improvement over a baseline, and performance profiles with bootstrap bands. A single scenario's
interval is SciPy's (vectorised) bootstrap, the same percentile method on one stratum.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from bcfl_env.untrusted import parse_untrusted, require_finite

__all__ = [
    "build_leaderboard",
    "check_submission",
    "iqm",
    "probability_of_improvement",
    "probability_of_improvement_interval",
]


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean (the mean of the middle 50 %), as rliable's ``aggregate_iqm``."""
    return stats.trim_mean(values, 0.25, axis=axis)


def _pooled_iqm(scores: np.ndarray) -> np.ndarray:
    """rliable's ``aggregate_iqm`` (SciPy's trim_mean over every entry), without SciPy's
    per-call argument handling: the bootstrap calls it thousands of times per interval."""
    flat = np.sort(scores, axis=None)
    cut = int(0.25 * flat.size)
    return np.array([flat[cut : flat.size - cut].mean()])


BOOTSTRAP_REPS = 2000  # per interval; rliable's own default for profiles


def _ci(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap CI of the IQM of one scenario's episodes (SciPy, vectorised: a
    single stratum needs no stratification, and these are most of the table's intervals)."""
    if values.size < 2 or np.all(values == values[0]):
        return float(iqm(values)), float(iqm(values))
    res = stats.bootstrap((values,), iqm, n_resamples=BOOTSTRAP_REPS, confidence_level=0.95,
                          random_state=seed, method="percentile")  # fmt: skip
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _rliable() -> tuple[Any, Any]:
    """rliable's ``library`` and ``metrics`` (Agarwal et al., NeurIPS 2021)."""
    from rliable import library, metrics

    return library, metrics


def _stratified_bootstrap(scores: np.ndarray, seed: int) -> Any:
    """rliable's stratified bootstrap of a (runs x tasks) matrix: runs are resampled within each
    task (scenario), never across. rliable 1.2 draws the resampled indices from numpy's global
    RNG, ignoring the generator it is handed (so its intervals changed from run to run and it
    would disturb the caller's global state); this subclass draws them from arch's own seeded
    generator instead, and is otherwise rliable's."""
    library, _ = _rliable()

    class Seeded(library.StratifiedBootstrap):  # type: ignore[name-defined]
        def update_indices(self) -> tuple[np.ndarray, ...]:
            runs = self._generator.choice(self._num_items, self._args_shape, replace=True)
            return (runs, *self._strata_indices)

    return Seeded(scores, seed=np.random.default_rng(seed))


def _interval(scores: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """IQM of a (runs x tasks) score matrix and its 95 % percentile CI from rliable's stratified
    bootstrap (:func:`_stratified_bootstrap`)."""
    point = float(_pooled_iqm(scores)[0])
    if scores.shape[0] < 2 or np.all(scores == scores.flat[0]):
        return point, point, point
    ci = _stratified_bootstrap(scores, seed).conf_int(
        _pooled_iqm, reps=BOOTSTRAP_REPS, size=0.95, method="percentile"
    )
    return point, float(ci[0, 0]), float(ci[1, 0])


def _matrix(rows: list[dict[str, Any]], key: str, scenarios: list[str]) -> np.ndarray:
    """``row[key]`` laid out as rliable's (runs x tasks) matrix, one column per scenario.

    Raises:
        ValueError: a scenario with a different number of episodes than the others (the
            stratified bootstrap resamples a full matrix).
    """
    columns = [[r[key] for r in rows if r.get("scenario", "") == s] for s in scenarios]
    counts = {s: len(c) for s, c in zip(scenarios, columns, strict=True)}
    if len(set(counts.values())) != 1:
        raise ValueError(
            f"{rows[0]['policy']}: episodes per scenario differ ({counts}); the suite-wide "
            "interval needs the same number in every scenario (evaluate each on the same seeds)"
        )
    return np.array(columns, dtype=float).T


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


def normalised_scores(
    rows: list[dict[str, Any]], references: References, ceilings: dict[str, float | None]
) -> np.ndarray:
    """Each episode's share of the headroom between random selection and the planner's ceiling:
    ``(reference - time) / (reference - ceiling)``, both stored with the suite (random's and the
    planner's IQM time to target on the held-out seeds), so 0 is random's level, 1 the
    planner's, and a row's value never depends on the other rows. NaN for a scenario without a
    stored ceiling."""
    out = []
    for r in rows:
        reference, budget = references[r["scenario"]]
        ceiling = ceilings.get(r["scenario"])
        if ceiling is None or not ceiling < reference:
            out.append(float("nan"))
        else:
            out.append((reference - _time_metric(r, budget)) / (reference - ceiling))
    return np.array(out)


def _paired_times(
    rows: list[dict[str, Any]], baseline: str
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Per policy, (its normalised times, the baseline's) in each scenario both ran, the
    scenarios in sorted order; no entry for a policy that shares none with the baseline."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        times[(r["policy"], r["scenario"])].append(r["normalised_time"])
    pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for policy, scenario in sorted(times):
        theirs = times.get((baseline, scenario))
        if theirs:
            pairs[policy].append((np.asarray(times[(policy, scenario)]), np.asarray(theirs)))
    return pairs


def probability_of_improvement(rows: list[dict[str, Any]], baseline: str) -> dict[str, float]:
    """P(a policy's episode reaches the target sooner than the baseline's), per policy.

    rliable's probability of improvement (Agarwal et al., NeurIPS 2021): for each scenario both
    ran, the Mann-Whitney probability that a random episode of the policy has a lower normalised
    time than a random episode of the baseline (ties count half), averaged over those scenarios.
    Empty when the baseline is absent.
    """
    _, metrics = _rliable()
    # rliable scores are higher-is-better: a shorter time is a higher score
    return {
        policy: float(np.mean([
            metrics.probability_of_improvement(-x[:, None], -y[:, None]) for x, y in pairs
        ]))
        for policy, pairs in _paired_times(rows, baseline).items()
    }  # fmt: skip


def probability_of_improvement_interval(
    rows: list[dict[str, Any]], baseline: str, seed: int = 0, reps: int = BOOTSTRAP_REPS
) -> dict[str, tuple[float, float]]:
    """95 % percentile CI of :func:`probability_of_improvement`, per policy.

    rliable's interval for it (its ``StratifiedIndependentBootstrap``): in each scenario the
    policy's episodes and the baseline's are resampled independently, never across scenarios,
    and each resample's per-scenario probabilities are averaged. A resample is a vector of
    counts (how often each episode was drawn), so the probability of a resample is
    ``c_x @ M @ c_y / (n_x n_y)`` with ``M`` the (n_x, n_y) matrix of 1 (shorter), 0.5 (tie),
    0: every resample in a few matrix products. The counts come from a generator seeded with
    ``seed``, so the interval is the same on every run. Empty when the baseline is absent.
    """
    out: dict[str, tuple[float, float]] = {}
    for policy, pairs in _paired_times(rows, baseline).items():
        rng = np.random.default_rng(seed)  # per policy: a row's interval ignores the others
        total = np.zeros(reps)
        for x, y in pairs:
            wins = (x[:, None] < y[None, :]) + 0.5 * (x[:, None] == y[None, :])
            cx = rng.multinomial(x.size, np.full(x.size, 1 / x.size), size=reps)
            cy = rng.multinomial(y.size, np.full(y.size, 1 / y.size), size=reps)
            total += np.einsum("ri,ij,rj->r", cx, wins, cy) / (x.size * y.size)
        low, high = np.percentile(total / len(pairs), [2.5, 97.5])
        out[policy] = (float(low), float(high))
    return out


def _versions(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Each scenario's suite version, as its rows state it (the default suite's when absent)."""
    from training.suite import SUITE_VERSION

    return {r["scenario"]: int(r.get("suite_version") or SUITE_VERSION) for r in rows}


def _references(rows: list[dict[str, Any]], given: References | None) -> References:
    from training.suite import scenario_reference

    refs = dict(given or {})
    versions = _versions(rows)
    for name in set(versions) - set(refs):
        refs[name] = scenario_reference(name, versions[name])
    for name, (reference, budget) in refs.items():
        if not (reference > 0 and budget > 0):
            raise ValueError(f"scenario {name!r} has no reference time (got {reference})")
    return refs


def _ceilings(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    from training.suite import scenario_ceiling

    return {name: scenario_ceiling(name, version) for name, version in _versions(rows).items()}


def _episode_key(r: dict[str, Any]) -> tuple[str, str, int, int]:
    """(policy, scenario, evaluation seed, training seed): one episode. Rows of a learned
    selector trained with several seeds carry ``train_seed`` and aggregate under one policy."""
    train_seed = r.get("train_seed")
    return r["policy"], r["scenario"], int(r["seed"]), -1 if train_seed is None else int(train_seed)


def _refuse_duplicates(rows: list[dict[str, Any]]) -> None:
    seen: dict[tuple[str, str, int, int], int] = defaultdict(int)
    for r in rows:
        seen[_episode_key(r)] += 1
    twice = sorted(k for k, n in seen.items() if n > 1)
    if twice:
        shown = ", ".join(
            f"{p}/{s}/seed {seed}" + (f"/training seed {t}" if t >= 0 else "")
            for p, s, seed, t in twice[:5]
        )
        raise ValueError(
            f"duplicate episodes ({len(twice)}: {shown}): each (policy, scenario, seed, training "
            "seed) must appear once; remove the repeated lines or give the runs different labels"
        )


# a policy name reaches Markdown tables and file names: letters, digits and a few separators
POLICY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+=(),:/-]{0,119}")
MAX_LINE_BYTES = 4 << 20  # one episode's row, curve included


def _number(row: dict[str, Any], key: str, low: float, high: float, *, low_open: bool = False,
            optional: bool = False) -> None:  # fmt: skip
    value = row.get(key)
    if value is None and optional:
        return
    number = require_finite(value, key, low, high)
    if low_open and number <= low:
        raise ValueError(f"{key}={value!r} is out of range: must be more than {low}")


def _integer(row: dict[str, Any], key: str, low: int, *, optional: bool = False) -> None:
    value = row.get(key)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{key}={value!r} must be an integer of at least {low}")


def validate_row(row: Any) -> None:
    """Refuse a results row that cannot be an episode (submissions are data from outside).

    Raises:
        ValueError: the first field that is missing, of the wrong type or out of range, in one
            line: a policy name outside the safe character set, a seed that is not an integer,
            times that are not finite and positive, an accuracy outside [0, 1], counts below 0.
    """
    if not isinstance(row, dict):
        raise ValueError(f"a row is not an object but {type(row).__name__}")
    policy = row.get("policy")
    if not isinstance(policy, str) or not POLICY_NAME.fullmatch(policy):
        raise ValueError(
            f"policy={policy!r} is not allowed: 1-120 letters, digits, spaces or ._+=(),:/- "
            "starting with a letter or digit"
        )
    if not isinstance(row.get("scenario"), str):
        raise ValueError(f"scenario={row.get('scenario')!r} must be a string")
    _integer(row, "seed", 0)
    _integer(row, "train_seed", 0, optional=True)
    _number(row, "sim_time_s", 0.0, math.inf, low_open=True)
    _number(row, "time_to_target_s", 0.0, math.inf, low_open=True, optional=True)
    reached = row.get("time_to_target_s")
    if reached is not None and reached > row["sim_time_s"] + 1e-9:
        raise ValueError(f"time_to_target_s={reached!r} is after the episode's end (sim_time_s)")
    _number(row, "final_accuracy", 0.0, 1.0)
    _number(row, "return", -math.inf, math.inf)
    _number(row, "energy_j", 0.0, math.inf)
    _integer(row, "rounds", 0)
    _integer(row, "rounds_to_target", 0, optional=True)
    _integer(row, "poisoned_accepted", 0)
    _integer(row, "max_rounds", 1, optional=True)
    curve = row.get("curve")
    if curve is not None and not (
        isinstance(curve, list) and all(isinstance(p, list) and len(p) == 2 for p in curve)
    ):
        raise ValueError("curve must be a list of [time, accuracy] pairs")


def read_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """Every row of the JSON-lines ``paths``, each parsed within bounds and validated; an error
    names the file, the line and the field."""
    rows = []
    for path in paths:
        for n, line in enumerate(path.read_bytes().splitlines(), start=1):
            if line.strip():
                rows.append(parse_row(line, f"{path.name}:{n}"))
    return rows


def parse_row(line: bytes, where: str) -> dict[str, Any]:
    """One results line, parsed within bounds and validated; an error names ``where``."""
    try:  # bytes: invalid UTF-8 is a refused line like any other, not a decode crash
        row = parse_untrusted(line, max_bytes=MAX_LINE_BYTES)
        validate_row(row)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return row


def build_leaderboard(
    paths: list[Path], out_dir: Path, references: References | None = None
) -> list[dict[str, Any]]:
    """Aggregate JSON-lines results into leaderboard.md / .csv / .json and two plots.

    Per scenario: IQM of the simulated time to target with a 95 % bootstrap CI, an episode that
    never reached the target charged the scenario's time budget. Across the suite (row ``ALL``):
    IQM of the normalised time (:func:`normalised_times`: over the scenario's fixed reference, 1
    is the random policy's level, lower is better) with a CI from rliable's bootstrap stratified
    by scenario. Policies are ranked by that IQM. Rows of one policy with several ``train_seed``
    values (a learned selector's training seeds) pool into its row. ``references`` overrides the
    suite's reference and budget per scenario (for scenarios outside the suite).

    Raises:
        ValueError: no rows, a duplicate (policy, scenario, seed, training seed), a policy with
            different episode counts across scenarios, or a scenario without a reference.
    """
    rows = read_rows(paths)
    if not rows:
        raise ValueError("no results found in the given files")
    return leaderboard_of_rows(rows, out_dir, references)


def leaderboard_of_rows(
    rows: list[dict[str, Any]], out_dir: Path, references: References | None = None
) -> list[dict[str, Any]]:
    """:func:`build_leaderboard` of rows already in memory (each validated here, as a file's
    would be; the rows gain their ``normalised_time`` and ``normalised_score``).

    Raises:
        ValueError: as :func:`build_leaderboard`, or a row that cannot be an episode.
    """
    if not rows:
        raise ValueError("no results to aggregate")
    for n, row in enumerate(rows):
        try:
            validate_row(row)
        except ValueError as exc:
            raise ValueError(f"rows[{n}]: {exc}") from None
    _refuse_duplicates(rows)
    refs = _references(rows, references)
    norm = normalised_times(rows, refs)
    ceilings = _ceilings(rows)
    scores = normalised_scores(rows, refs, ceilings)
    for r, n, score in zip(rows, norm, scores, strict=True):
        r["normalised_time"] = float(n)
        r["normalised_score"] = float(score)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["policy"], row["scenario"])].append(row)
        groups[(row["policy"], "ALL")].append(row)
    table = []
    for (policy, scenario), items in sorted(groups.items()):
        for r in items:
            r["time_metric"] = _time_metric(r, refs[r["scenario"]][1])
        nan3 = (float("nan"),) * 3
        scored = not any(np.isnan(r["normalised_score"]) for r in items)
        if scenario == "ALL":
            scenarios = sorted({r["scenario"] for r in items})
            iqm_n, lo, hi = _interval(_matrix(items, "normalised_time", scenarios))
            score = _interval(_matrix(items, "normalised_score", scenarios)) if scored else nan3
            time_iqm, time_lo, time_hi = nan3
        else:  # one scenario: the normalised time is the time over a constant reference
            times = np.array([r["time_metric"] for r in items])
            time_iqm, (time_lo, time_hi) = float(iqm(times)), _ci(times)
            reference = refs[scenario][0]
            iqm_n, lo, hi = time_iqm / reference, time_lo / reference, time_hi / reference
            score = nan3
            if scored:  # the score is linear and decreasing in the time: map the time's IQM and CI
                ceiling = float(ceilings[scenario] or 0.0)
                headroom = reference - ceiling
                score = tuple((reference - t) / headroom for t in (time_iqm, time_hi, time_lo))
        table.append({
            "policy": policy, "scenario": scenario, "episodes": len(items),
            "time_to_target_iqm_s": time_iqm, "time_ci_low": time_lo, "time_ci_high": time_hi,
            "normalised_time_iqm": iqm_n, "normalised_ci_low": lo, "normalised_ci_high": hi,
            "score_iqm": score[0], "score_ci_low": score[1], "score_ci_high": score[2],
            "reached": float(np.mean([r["time_to_target_s"] is not None for r in items])),
            "final_accuracy_iqm": float(iqm(np.array([r["final_accuracy"] for r in items]))),
            "return_iqm": float(iqm(np.array([r["return"] for r in items]))),
            "energy_j_mean": float(np.mean([r["energy_j"] for r in items])),
            "poisoned_accepted": int(sum(r["poisoned_accepted"] for r in items)),
        })  # fmt: skip
    improvement = probability_of_improvement(rows, COMPARED_WITH)
    interval = probability_of_improvement_interval(rows, COMPARED_WITH)
    for r in table:
        suite_wide = r["scenario"] == "ALL"
        name = f"p_better_than_{COMPARED_WITH}"
        point = improvement.get(str(r["policy"]), float("nan")) if suite_wide else float("nan")
        nan2 = (float("nan"), float("nan"))
        low, high = interval.get(str(r["policy"]), nan2) if suite_wide else nan2
        r[name], r[f"{name}_ci_low"], r[f"{name}_ci_high"] = point, low, high
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
    ranked = [str(r["policy"]) for r in table if r["scenario"] == "ALL"]
    shown = _plotted(ranked)
    _plot(rows, out_dir / "accuracy_vs_time.png", shown)
    _plot_profiles(rows, out_dir / "performance_profiles.png", shown)
    return table


def markdown(table: list[dict[str, Any]]) -> str:
    lines = [
        "| policy | scenario | episodes | time to target IQM [s] (95 % CI) | normalised time IQM (95 % CI) "
        "| score IQM (95 % CI) | reached | final acc IQM | return IQM | energy [J] | poisoned accepted |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        time = "-" if np.isnan(r["time_to_target_iqm_s"]) else (
            f"{r['time_to_target_iqm_s']:.1f} [{r['time_ci_low']:.1f}, {r['time_ci_high']:.1f}]"
        )  # fmt: skip
        lines.append(
            f"| {r['policy']} | {r['scenario']} | {r['episodes']} | {time} | {r['normalised_time_iqm']:.3f} "
            f"[{r['normalised_ci_low']:.3f}, {r['normalised_ci_high']:.3f}] | {score_text(r)} | {r['reached']:.0%} | "
            f"{r['final_accuracy_iqm']:.3f} | {r['return_iqm']:.2f} | {r['energy_j_mean']:.1f} | {r['poisoned_accepted']} |"
        )
    return "\n".join(lines) + "\n"


def score_text(r: dict[str, Any]) -> str:
    """A table row's normalised score with its CI, or '-' where a scenario has no ceiling."""
    if np.isnan(r.get("score_iqm", float("nan"))):
        return "-"
    return f"{r['score_iqm']:.2f} [{r['score_ci_low']:.2f}, {r['score_ci_high']:.2f}]"


def summary_lines(table: list[dict[str, Any]]) -> list[str]:
    """A console summary of a table: per row its time to target (a scenario) or normalised time
    (the suite) and its share of the headroom, both with their CIs."""
    lines = [f"{'policy':<32} {'scenario':<22} {'time IQM (95 % CI)':<28} share (95 % CI)"]
    for r in table:
        if r["scenario"] == "ALL":
            time = f"{r['normalised_time_iqm']:.3f} of random's"
        else:
            time = f"{r['time_to_target_iqm_s']:.1f} s [{r['time_ci_low']:.1f}, {r['time_ci_high']:.1f}]"
        lines.append(f"{r['policy']:<32} {r['scenario']:<22} {time:<28} {score_text(r)}")
    return lines


PLOTTED = 8  # policies drawn in the plots beyond the reference baselines


def _plotted(ranked: list[str]) -> list[str] | None:
    """Every policy when there are few; else the best :data:`PLOTTED` by rank plus random and
    the compared baseline, so the plots stay readable (the tables list every policy)."""
    if len(ranked) <= PLOTTED + 2:
        return None
    chosen = ranked[:PLOTTED]
    return chosen + [p for p in ("random", COMPARED_WITH) if p in ranked and p not in chosen]


def _plot(rows: list[dict[str, Any]], path: Path, policies: list[str] | None = None) -> None:
    """Mean accuracy against simulated time, one panel per scenario, its target drawn."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend stays as it is

    from training.suite import scenario_target

    scenarios = sorted({r.get("scenario", "") for r in rows})
    versions = _versions([r for r in rows if "scenario" in r])
    fig = Figure(figsize=(5 * min(len(scenarios), 3), 3.6 * ((len(scenarios) + 2) // 3)))
    for k, scenario in enumerate(scenarios):
        ax = fig.add_subplot((len(scenarios) + 2) // 3, min(len(scenarios), 3), k + 1)
        by_policy: dict[str, list[list[tuple[float, float]]]] = defaultdict(list)
        for r in rows:
            if r.get("scenario", "") == scenario and (policies is None or r["policy"] in policies):
                by_policy[r["policy"]].append(r["curve"])
        end = max(max(t for t, _ in c) for cs in by_policy.values() for c in cs)
        grid = np.linspace(0, max(end, 1e-9), 100)
        for policy, curves in sorted(by_policy.items()):
            interp = [np.interp(grid, [t for t, _ in c], [a for _, a in c]) for c in curves]
            ax.plot(grid, np.mean(interp, axis=0), label=policy)
        target = scenario_target(scenario, versions[scenario]) if scenario else None
        if target is not None:
            ax.axhline(target, ls="--", c="k", lw=0.8, label="target")
        ax.set_title(scenario or "all")
        ax.set_xlabel("simulated time [s]")
        ax.set_ylabel("global test accuracy")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _score_distribution(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """rliable's ``score_distributions`` (the fraction of runs scoring above each threshold),
    vectorised over the thresholds."""
    return (scores.reshape(-1, 1) > np.asarray(thresholds)[None, :]).mean(axis=0)


def _plot_profiles(
    rows: list[dict[str, Any]], path: Path, policies: list[str] | None = None
) -> None:
    """Performance profiles (Agarwal et al., NeurIPS 2021, computed by rliable with 95 %
    stratified-bootstrap bands): the fraction of episodes that reached the target in less than
    tau times the scenario's reference time, per policy (higher and further left is better); an
    episode that never reached it counts for no tau."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend stays as it is

    thresholds = -np.linspace(0, 2, 101)  # rliable scores are higher-is-better
    profiles, bands = {}, {}
    for policy in policies or sorted({r["policy"] for r in rows}):
        items = [r for r in rows if r["policy"] == policy]
        for r in items:  # a failure is never reached, at any tau
            reached = r.get("time_to_target_s", 0.0) is not None
            r["profile_score"] = -r["normalised_time"] if reached else -np.inf
        scenarios = sorted({r.get("scenario", "") for r in items})
        scores = _matrix(items, "profile_score", scenarios)
        profiles[policy] = _score_distribution(scores, thresholds)
        bands[policy] = (
            _stratified_bootstrap(scores, 0).conf_int(
                lambda x: _score_distribution(x, thresholds),
                reps=BOOTSTRAP_REPS,
                size=0.95,
                method="percentile",
            )  # fmt: skip
            if scores.shape[0] > 1
            else np.stack([profiles[policy]] * 2)
        )
    taus = -thresholds
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for policy in profiles:
        ax.plot(taus, profiles[policy], label=policy)
        ax.fill_between(taus, bands[policy][0], bands[policy][1], alpha=0.15)
    ax.set_xlabel("time to target / random's reference, tau")
    ax.set_ylabel("fraction of episodes with time < tau")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def check_submission(paths: list[Path], suite: str) -> str:
    """Validate results files as a submission to ``suite``; returns a one-line summary.

    Every row must belong to a scenario of the suite and carry the current suite version; every
    policy must cover every scenario with every held-out seed exactly once.

    Raises:
        ValueError: the first problem found, in one line.
    """
    from training.suite import SUITES, suite_version

    version = suite_version(suite)
    rows = read_rows(paths)
    if not rows:
        raise ValueError("no results found in the given files")
    _refuse_duplicates(rows)
    expected = {s.name: set(s.seeds) for s in SUITES[suite]}
    seen: dict[tuple[str, Any, str], set[int]] = defaultdict(set)
    for r in rows:
        if r.get("scenario") not in expected:
            raise ValueError(f"scenario {r.get('scenario')!r} is not in suite {suite!r}")
        if r.get("suite_version") != version:
            raise ValueError(
                f"{r['policy']}/{r['scenario']}/seed {r.get('seed')}: suite version "
                f"{r.get('suite_version')!r}, expected {version} (re-run bcfl evaluate)"
            )
        seen[(r["policy"], r.get("train_seed"), r["scenario"])].add(int(r["seed"]))
    # every policy (each training seed of a learned one) covers every scenario and seed once
    for policy, train_seed in sorted({(p, t) for p, t, _ in seen}, key=str):
        name = policy if train_seed is None else f"{policy} (training seed {train_seed})"
        for scenario, seeds in expected.items():
            mine = seen.get((policy, train_seed, scenario), set())
            missing, extra = sorted(seeds - mine), sorted(mine - seeds)
            if missing or extra:
                raise ValueError(
                    f"{name}/{scenario}: seeds missing {missing[:5]} and not held out {extra[:5]}"
                )
    policies = len({r["policy"] for r in rows})
    return f"OK: {len(rows)} episodes, {policies} polic{'y' if policies == 1 else 'ies'}, suite {suite!r} v{version}"
