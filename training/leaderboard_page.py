"""``make leaderboard``: LEADERBOARD.md from the committed results in ``results/leaderboard/``.

Without ``--evaluate`` it only aggregates the committed JSON-lines files (seconds; nothing is
trained or run), so the table is reproducible from the repository. ``--evaluate`` first re-runs
the baselines (every selector registered with ``baseline=True``: :func:`baselines`) on the
default suite (and any ``--model LABEL=PATH``) into those files.

``--train`` first runs the training tracks (:mod:`training.tracks`: every learned selector
per scenario, and the iov-trained ones on every scenario); ``--backend ray`` spreads evaluation
and training over a Ray cluster.

Usage: make leaderboard ARGS="..." (python -m training.leaderboard_page) [--evaluate] [--model LABEL=PATH ...] [--train]
       [--rounds 2000] [--jobs 2] [--backend inprocess|ray] [--address ADDR]
       [--results results/leaderboard] [--out LEADERBOARD.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agents import baseline_names
from training.leaderboard import build_leaderboard, read_rows, score_text
from training.leaderboard import leaderboard_of_rows as build_table
from training.suite import HELD_OUT_SEEDS_V2, SUITE_VERSION
from training.tracks import CURVE_POINTS, TRACK_SUFFIX, parse_curve

ROOT = Path(__file__).resolve().parents[1]


def baselines() -> list[str]:
    """The baseline rows ``--evaluate`` re-runs: the registry's fixed rules (a selector registered
    with :func:`agents.register_selector` is one, unless it says ``baseline=False``)."""
    return baseline_names()


SHIPPED = "ppo-slotset-iov-seed"  # the shipped PPO, trained on iov-default with its tuned YAML


CEILING = "planner"  # agents/planner.py: looks ahead in the simulator (sees the future)
RSU_AGENTS = "rsu-"  # benchmarks/rsu_track.py: every RSU selects in its own coverage
ORACLE = "ppo_oracle"  # training.tracks.REFERENCE_ALGOS: sees true values no server knows


def track_of(policy: str) -> str:
    """Which track a row of the committed results belongs to."""
    if policy == CEILING:
        return "ceiling (sees the future)"
    if policy.startswith(ORACLE):
        return "reference (oracle features)"
    if policy.startswith(RSU_AGENTS):
        return "decentralised (RSU agents)"
    if policy.startswith(SHIPPED):
        return "generalisation (shipped)"
    for track, suffix in TRACK_SUFFIX.items():
        if policy.endswith(suffix):
            return track
    return "baseline"


META_KEYS = ("hyperparams", "budget_rounds", "timesteps", "commit", "date", "machine")


def _meta(rows: list[dict]) -> dict[str, dict]:
    """Per learned policy: what trained it (:data:`META_KEYS`, and each run's wall time)."""
    out: dict[str, dict] = {}
    for r in rows:
        if "train_seed" not in r:
            continue
        m = out.setdefault(r["policy"], {"runs": {}, **{k: set() for k in META_KEYS}})
        for key in META_KEYS:
            m[key].add(r.get(key, "not recorded"))
        m["runs"][(r["trained_on"], r["train_seed"])] = r["train_wall_s"]
    return out


def _fmt(values: set) -> str:
    return ", ".join(sorted(str(v) for v in values))


def _per_scenario(
    title: str, suite: list[dict], scenarios: list[str], cell: dict, text: Callable[[dict], str]
) -> list[str]:
    """A table of one cell per (policy, scenario) in the suite's rank order ('-' where absent)."""
    lines = ["", title, "", "| policy | " + " | ".join(scenarios) + " |"]
    lines.append("|---" * (len(scenarios) + 1) + "|")
    for r in suite:
        row = [text(cell[(r["policy"], s)]) if (r["policy"], s) in cell else "-" for s in scenarios]
        lines.append(f"| {r['policy']} | " + " | ".join(row) + " |")
    return lines


def _scenario_tables(
    prefix: str, suite: list[dict], scenarios: list[str], cell: dict, table: list[dict]
) -> tuple[list[str], list[str]]:
    """The per-scenario tables of a suite's section: time to target, and the share of the
    headroom closed (empty when no scenario has a stored ceiling). ``prefix`` names the suite
    in the headings ("" for the default suite)."""
    lead = f"{prefix}{' ' if prefix else ''}"
    times = _per_scenario(
        f"## {lead}{'per scenario' if prefix else 'Per scenario'}: time to target IQM [s] "
        "(share of episodes that reached the target)",
        suite, scenarios, cell,
        lambda c: f"{c['time_to_target_iqm_s']:.1f} ({c['reached']:.0%})",
    )  # fmt: skip
    shares: list[str] = []
    if any(c["score_iqm"] == c["score_iqm"] for c in table):
        shares = _per_scenario(
            f"## {prefix + ': s' if prefix else 'S'}hare of the headroom closed, per scenario "
            "(score IQM; 0 random, 1 planner)",
            suite, [*scenarios, "ALL"], cell, lambda c: score_text(c).split(" [")[0],
        )  # fmt: skip
    return times, shares


def _tuned_note(meta: dict[str, dict]) -> list[str]:
    """What the ``-tuned`` rows were tuned with (the studies' budgets in tuned/<algo>.yml)."""
    import yaml

    from training.tracks import TUNED_TAG
    from training.tune import TUNED

    tuned = sorted(p for p in meta if TUNED_TAG + "-" in p)
    if not tuned:
        return []
    budgets = set()
    for path in sorted(TUNED.glob("*.yml")):
        for scenario, entry in (yaml.safe_load(path.read_text()) or {}).items():
            t = entry["tuning"]
            seeds = t["validation_seeds"]
            budgets.add(
                f"{path.stem} on {scenario}: {t['trials']} trials x {t['steps_per_trial']} rounds, "
                f"validation seeds {seeds[0]}-{seeds[-1]}"
            )
    return [
        "",
        "**Tuned rows** (`<algo>-tuned-...`): trained with the best trial of an Optuna study "
        "per algorithm (`bcfl tune`, `training/hyperparams/tuned/`), every algorithm with the "
        "same budget, each trial scored on validation seeds that no suite holds out: "
        + "; ".join(sorted(budgets))
        + ". FAVOR keeps its paper's settings.",
    ]


def _matched_tracks(algo: str, rows: list[dict], cell: dict) -> tuple[list[int], dict, dict] | None:
    """(training seeds, per-scenario row, generalisation row) of ``algo`` across the suite on
    the training seeds both tracks hold (the table's rows where both hold the same seeds)."""
    names = [algo + TRACK_SUFFIX[t] for t in ("per-scenario", "generalisation")]
    held = [{r.get("train_seed") for r in rows if r["policy"] == n} for n in names]
    seeds = sorted(s for s in held[0] & held[1] if s is not None)
    if held[0] == held[1]:
        a, b = cell.get((names[0], "ALL")), cell.get((names[1], "ALL"))
        return None if a is None or b is None else (seeds, a, b)
    if not seeds:
        return None
    subset = [dict(r) for r in rows if r["policy"] in names and r.get("train_seed") in seeds]
    with tempfile.TemporaryDirectory() as scratch:
        matched = build_table(subset, Path(scratch))
    by_name = {r["policy"]: r for r in matched if r["scenario"] == "ALL"}
    return seeds, by_name[names[0]], by_name[names[1]]


def page(table: list[dict], sources: list[Path], plots: Path) -> str:
    """LEADERBOARD.md from the aggregated ``table`` (the raw rows in ``sources`` give the
    training metadata)."""
    rows = read_rows(sources)
    suite = [r for r in table if r["scenario"] == "ALL"]
    cell = {(r["policy"], r["scenario"]): r for r in table}
    scenarios = sorted({r["scenario"] for r in table} - {"ALL"})
    meta = _meta(rows)
    budgets = _fmt({b for m in meta.values() for b in m["budget_rounds"]}) or "-"
    lines = [
        f"# Leaderboard (suite `default`, version {SUITE_VERSION})",
        "",
        "Generated by `make leaderboard` from the committed results in `results/leaderboard/` "
        f"({', '.join(p.name for p in sources)}). Every row: the 10 held-out seeds of every "
        "scenario (for a learned selector, of each of its training seeds). Normalised time: time "
        "to target over the scenario's fixed reference (random selection's IQM, stored with the "
        "suite), an episode that never reached the target charged the scenario's time budget; "
        "lower is better, 1 is random's level. Statistics by rliable (Agarwal et al., NeurIPS "
        "2021): across the suite, the interquartile mean with a 95 % CI from a bootstrap "
        "stratified by scenario, and P(better than Oort), the probability of improvement that an "
        "episode of the policy reaches the target sooner than one of Oort's in the same "
        "scenario, averaged over scenarios, with a 95 % CI from rliable's independent bootstrap "
        "(the policy's and Oort's episodes resampled apart, within each scenario); within one "
        "scenario, SciPy's percentile bootstrap.",
        "",
        "**Score: the share of the headroom closed.** Per episode, `(random's reference - time) / "
        "(random's reference - the planner's reference)`: 0 is random selection's level, 1 the "
        "planner's, both references stored with the suite (`training/suite.py`), so a row's score "
        "never depends on the other rows. The planner (`agents/planner.py`) is a ceiling, not a "
        "selector a server could run: at every decision it simulates 32 candidate selections "
        "for 12 epochs each on clones of the world (Bertsekas' rollout with Oort as the base "
        "policy) and so sees the future; it is shown for reference. A scenario without a stored "
        "planner reference shows `-`. Much of that headroom is the sight of the future: the "
        "same planner planning on futures of its own (`planner-no-foresight-x4`) closes 0.65 "
        "[0.57, 0.73] of it across the suite, about what the best learned rows close (0.68-0.69) "
        '(docs/results.md, "What the rest of the headroom is made of").',
        "",
        "## Tracks",
        "",
        "- **baseline**: no training (random, Oort, power-of-choice, greedy variants).",
        "- **per-scenario** (`<algo>-per-scenario`): each algorithm trained on each scenario "
        "with its shipped hyperparameters (`training/hyperparams/<algo>.yml`; FAVOR: "
        "`agents/favor.py`) and evaluated on that scenario; a row pools its training seeds (the "
        "table of runs below counts them). "
        f"Budgets: {budgets} FL rounds (decision epochs) per run, the same for every algorithm "
        "at a budget: that many environment steps for PPO, A2C, SAC and TD3, and K picks per "
        "round for the picking algorithms (DQN, MaskablePPO, FAVOR); a row at a budget other "
        "than 2000 names it (`<algo>-100k-...`). `benchmarks/train_track.py` runs both tracks.",
        "- **generalisation** (`<algo>-trained-on-iov`): the same models trained on "
        "`iov-default`, evaluated on every scenario without retraining. At 100k rounds this "
        "track was run for every algorithm (`--tracks generalisation`), with the training seeds "
        'the table of runs below counts (`docs/results.md`, "The generalisation track at 100k '
        'steps").',
        "- **decentralised (RSU agents)** (`rsu-*`, `benchmarks/rsu_track.py`): each RSU "
        "selects among the vehicles it covers under its share of K (`docs/rsu_agents.md`): "
        "`rsu-oort` runs Oort per RSU, `rsu-shared-ppo-trained-on-iov` one parameter-shared "
        "SlotSetPolicy (60,000 agent steps on IoV) for every RSU of every scenario.",
        "- **generalisation (shipped)** (`ppo-slotset-iov-seed*`): the shipped PPO "
        "(`SlotSetPolicy`, `training/hyperparams/ppo.yml`, 40,000 steps, 4 seeds) trained on "
        "`iov-default` only.",
        "",
        "**Tuning budget.** Equal for every algorithm in the two tracks (at 2000 and at 100k "
        "rounds): none. Each runs its "
        "shipped YAML entry as written (the IoV entry where a file has no other), with the same "
        "budget in FL rounds. Only PPO's IoV entry was tuned before, on IoV alone (budgets 20k and "
        "40k steps, `ent_coef` 0, 0.01 and 0.03, `gamma` 0.99, learning rate 1e-3: about six settings, "
        "`benchmarks/bench_selection.py`); that tuning and its 20x larger budget are what "
        "separate the shipped rows from `ppo-trained-on-iov`.",
        *_tuned_note(meta),
        "",
        "## Across the suite (ranked)",
        "",
        "| rank | policy | track | normalised time IQM (95 % CI) | score IQM (95 % CI) "
        "| P(better than Oort) (95 % CI) | reached | final accuracy IQM | energy per episode [J] "
        "| poisoned updates accepted | episodes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(suite, start=1):
        p_oort = r.get("p_better_than_oort", float("nan"))
        p_text = "-" if p_oort != p_oort else (
            f"{p_oort:.2f} [{r['p_better_than_oort_ci_low']:.2f}, "
            f"{r['p_better_than_oort_ci_high']:.2f}]"
        )  # fmt: skip
        lines.append(
            f"| {k} | {r['policy']} | {track_of(r['policy'])} | {r['normalised_time_iqm']:.3f} "
            f"[{r['normalised_ci_low']:.3f}, {r['normalised_ci_high']:.3f}] | {score_text(r)} | "
            f"{p_text} | {r['reached']:.0%} | "
            f"{r['final_accuracy_iqm']:.3f} | {r['energy_j_mean']:.0f} | {r['poisoned_accepted']} | "
            f"{r['episodes']} |"
        )
    times, shares = _scenario_tables("", suite, scenarios, cell, table)
    lines += times
    best = []
    for s in scenarios:
        ranked = sorted(
            (c for c in table if c["scenario"] == s), key=lambda c: c["normalised_time_iqm"]
        )
        best.append(f"{s}: {ranked[0]['policy']} ({ranked[0]['time_to_target_iqm_s']:.1f} s)")
    lines += ["", "**Best per scenario** (lowest IQM): " + "; ".join(best) + "."]
    lines += shares
    algos = sorted(
        {p.removesuffix(per) for p in meta if p.endswith(per := TRACK_SUFFIX["per-scenario"])}
    )
    if algos:
        lines += [
            "",
            "## Per-scenario training against generalisation from iov-default",
            "",
            "Normalised time IQM across the suite (95 % CI); lower is better. The iov-default "
            "column is the same models in both tracks. Each line compares the training seeds "
            "both tracks hold (a track still being run may hold fewer than its row above).",
            "",
            "| algorithm | training seeds | per-scenario | trained on iov-default | difference |",
            "|---|---|---|---|---|",
        ]
        for algo in algos:
            pair = _matched_tracks(algo, rows, cell)
            if pair is None:
                continue
            seeds, a, b = pair
            lines.append(
                f"| {algo} | {', '.join(map(str, seeds))} | {a['normalised_time_iqm']:.3f} "
                f"[{a['normalised_ci_low']:.3f}, {a['normalised_ci_high']:.3f}] | "
                f"{b['normalised_time_iqm']:.3f} "
                f"[{b['normalised_ci_low']:.3f}, {b['normalised_ci_high']:.3f}] | "
                f"{b['normalised_time_iqm'] - a['normalised_time_iqm']:+.3f} |"
            )
    if meta:
        lines += [
            "",
            "## What trained each learned row",
            "",
            "| policy | hyperparameters | budget [FL rounds] | steps per run | runs | training wall time per run, median (max) [s] | commit | date |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for policy in sorted(meta):
            m = meta[policy]
            walls = sorted(m["runs"].values())
            lines.append(
                f"| {policy} | {_fmt(m['hyperparams'])} | {_fmt(m['budget_rounds'])} | "
                f"{_fmt(m['timesteps'])} | {len(walls)} | {walls[len(walls) // 2]:.0f} ({walls[-1]:.0f}) | "
                f"{_fmt(m['commit'])} | {_fmt(m['date'])} |"
            )
        lines += [
            "",
            f"Machine: {_fmt({x for m in meta.values() for x in m['machine']})}, two training "
            "processes at a time. The shipped PPO rows: `agents/models/manifest.json` records the "
            "seed-0 model's training.",
        ]
    lines += [
        "",
        f"Plots: [accuracy against simulated time, per scenario]({plots / 'accuracy_vs_time.png'}), "
        f"[performance profiles]({plots / 'performance_profiles.png'}) (the 8 best rows, random "
        "and Oort). Full table with final accuracy, energy and poisoned updates: "
        f"[{plots / 'leaderboard.md'}]({plots / 'leaderboard.md'}).",
        "",
    ]
    return "\n".join(lines)


def page_v2(table: list[dict], sources: list[Path], plots: Path) -> str:
    """The suite v2 section of LEADERBOARD.md (its own references, seeds and scenarios)."""
    suite = [r for r in table if r["scenario"] == "ALL"]
    cell = {(r["policy"], r["scenario"]): r for r in table}
    scenarios = sorted({r["scenario"] for r in table} - {"ALL"})
    seeds = len(HELD_OUT_SEEDS_V2)
    trained_here = sorted(
        {r["policy"] for r in suite if track_of(r["policy"]) == "per-scenario"}
    )  # trained on suite v2's own scenarios (python -m training.tracks --suite v2)
    lines = [
        "",
        "# Suite v2 (version 2)",
        "",
        f"Generated from {', '.join(p.name for p in sources)}. Two scenarios whose device "
        "heterogeneity follows published measurements (compute spread of 978 phone models; "
        "availability, churn and a daily rhythm fitted to the FLASH smartphone trace; "
        '`docs/scenarios.md`, "Suite v2"), '
        f"{seeds} held-out seeds each (2000-{2000 + seeds - 1}); references (random's and the "
        "planner's IQM on those seeds) stored with suite v2, statistics as above. Learned rows: "
        "the shipped PPO, and the set-policy models of the generalisation track at 100k steps "
        "(trained on suite v1's iov-default, evaluated here without retraining, `--train-seed` "
        "per model)"
        + (
            f"; per-scenario rows ({', '.join(trained_here)}) trained on each v2 scenario itself "
            "(`python -m training.tracks --suite v2`), each model evaluated on the scenario it "
            "was trained on"
            if trained_here
            else ""
        )
        + "; the algorithms with an MLP over the flat observation (SAC, TD3, DQN, "
        "MaskablePPO, FAVOR, ppo_weights) act on a fixed 20 slots and cannot act on v2's 100.",
        "",
        "| rank | policy | track | normalised time IQM (95 % CI) | score IQM (95 % CI) "
        "| reached | episodes |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(suite, start=1):
        lines.append(
            f"| {k} | {r['policy']} | {track_of(r['policy'])} | {r['normalised_time_iqm']:.3f} "
            f"[{r['normalised_ci_low']:.3f}, {r['normalised_ci_high']:.3f}] | {score_text(r)} | "
            f"{r['reached']:.0%} | {r['episodes']} |"
        )
    times, shares = _scenario_tables("Suite v2", suite, scenarios, cell, table)
    lines += times + shares
    lines += [
        "",
        f"Plots: [accuracy against simulated time]({plots / 'accuracy_vs_time.png'}), "
        f"[performance profiles]({plots / 'performance_profiles.png'}); full table: "
        f"[{plots / 'leaderboard.md'}]({plots / 'leaderboard.md'}).",
        "",
    ]
    return "\n".join(lines)


def curves_section(folder: Path, plot: Path | None = None, link: Path | None = None) -> str:
    """Learning curves of the track runs that kept them (``folder``: results' ``curves/``): per
    run label, the median simulated time of the training episodes ending in each tenth of the
    budget, the median over training seeds (one curve per seed in the files). ``plot``: also
    draw them there (linked from the page as ``link``)."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for n, line in enumerate(path.read_bytes().splitlines(), start=1):
            if line.strip():
                curve = parse_curve(line, f"{path.name}:{n}")
                runs.setdefault((curve["policy"], curve["trained_on"]), []).append(curve)
    if not runs:
        return ""
    if plot is not None:
        from training.plots import track_curves

        track_curves({f"{p} ({t})": [c["points"] for c in cs] for (p, t), cs in runs.items()}, plot)
    lines = [
        "",
        "## Learning curves of the tracks",
        "",
        "Median simulated time [s] of the training episodes that ended in each tenth of the "
        "budget (lower is better; an episode that did not reach the target counts its whole "
        "time), median over training seeds; from `results/leaderboard/curves/` (written by "
        "`python -m training.tracks` from each run's `episodes.jsonl`)"
        + (f"; [plot]({link})." if link is not None else "."),
        "",
        "| run | trained on | seeds | steps | "
        + " | ".join(f"{100 * k // CURVE_POINTS} %" for k in range(1, CURVE_POINTS + 1))
        + " |",
        "|---|---|---|---|" + "---|" * CURVE_POINTS,
    ]
    for (policy, trained_on), curves in sorted(runs.items()):
        total = curves[0]["timesteps"]
        cells = []
        for k in range(1, CURVE_POINTS + 1):
            end = round(total * k / CURVE_POINTS)
            values = [p[1] for c in curves for p in c["points"] if abs(p[0] - end) <= 1]
            cells.append(f"{float(np.median(values)):.0f}" if values else "-")
        lines.append(
            f"| {policy} | {trained_on} | {len(curves)} | {total:,} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def leaderboard_text(results: Path, plots: Path, tables: Path | None = None) -> str:
    """The whole of LEADERBOARD.md from the committed results in ``results``: suite v1 from its
    ``v1-*.jsonl`` files, then suite v2 from its ``v2-*.jsonl`` files (each version scored
    against its own references). Tables and plots go to ``tables`` (default: ``results``; v2's
    in its ``v2/`` folder); ``plots`` is how the page links to them."""
    tables = tables or results
    sources = sorted(results.glob(f"v{SUITE_VERSION}-*.jsonl"))
    text = page(build_leaderboard(sources, tables), sources, plots)
    curves = curves_section(
        results / "curves", tables / "learning_curves.png", plots / "learning_curves.png"
    )
    if curves:
        text = text.rstrip("\n") + "\n" + curves
    v2 = sorted(results.glob("v2-*.jsonl"))
    if v2:
        (tables / "v2").mkdir(parents=True, exist_ok=True)
        text = (
            text.rstrip("\n")
            + "\n"
            + page_v2(build_leaderboard(v2, tables / "v2"), v2, plots / "v2")
        )
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluate", action="store_true", help="re-run the baselines first")
    parser.add_argument("--model", nargs="*", default=[], help="LABEL=PATH of trained models")
    parser.add_argument(
        "--train", action="store_true",
        help="run the per-scenario and generalisation tracks first (benchmarks/train_track.py; "
        "hours on 2 cores; jobs already in the results are skipped)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2000, help="--train budget in FL rounds")
    parser.add_argument("--jobs", type=int, default=2, help="--train processes (or Ray CPUs)")
    parser.add_argument(
        "--backend", choices=("inprocess", "ray"), default="inprocess",
        help="where --evaluate and --train run: this machine, or Ray for more cores",
    )  # fmt: skip
    parser.add_argument("--address", default=None, help="a Ray cluster to join")
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "leaderboard")
    parser.add_argument("--out", type=Path, default=ROOT / "LEADERBOARD.md")
    args = parser.parse_args()
    if args.evaluate:
        from training.evaluate import evaluate_policy

        baselines = args.results / f"v{SUITE_VERSION}-baselines.jsonl"
        baselines.unlink(missing_ok=True)
        for policy in baselines():
            evaluate_policy(policy, "default", None, baselines, policy, args.backend, args.address)
        for spec in args.model:
            label, path = spec.split("=", 1)
            out = args.results / f"v{SUITE_VERSION}-{label}.jsonl"
            evaluate_policy(path, "default", None, out, label, args.backend, args.address)
    if args.train:
        from training.tracks import run_tracks

        run_tracks(
            args.results / f"v{SUITE_VERSION}-tracks.jsonl", rounds=args.rounds, jobs=args.jobs,
            backend="pool" if args.backend == "inprocess" else "ray", address=args.address,
        )  # fmt: skip
    try:
        plots = args.results.relative_to(args.out.parent)
    except ValueError:
        plots = args.results
    args.out.write_text(leaderboard_text(args.results, plots))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
