"""The leaderboard's training tracks: every learned selector, trained with the same budget.

* **Per-scenario track**: each algorithm is trained on each scenario of the suite (its shipped
  hyperparameters, ``--seeds`` training seeds) and evaluated on that scenario's held-out seeds.
  Rows are labelled ``<algo>-per-scenario``.
* **Generalisation track**: the models trained on ``iov-default`` are also evaluated on every
  other scenario, without retraining. Rows are labelled ``<algo>-trained-on-iov``.

Every algorithm gets the same budget, counted in decision epochs (FL rounds, the expensive unit):
``--rounds`` environment steps for the score-action algorithms (PPO, A2C, SAC, TD3), and
``--rounds`` x K one-vehicle picks for the picking ones (DQN, MaskablePPO, FAVOR), which fill an
epoch with K picks. Nobody is tuned in this track: each algorithm runs its shipped YAML entry.

Rows go to ``--out`` (JSON lines, one per episode, with the training seed, budget, wall time,
hyperparameter entry, commit and date). A job whose rows are already there is skipped, so an
interrupted run resumes where it stopped. ``--suite v2`` runs the per-scenario track on suite v2's
scenarios; ``--reuse FILE`` takes a per-scenario job on iov-default from the generalisation
track's rows of the same job.

Usage: python -m training.tracks [--algos ...] [--seeds 0 1 2] [--rounds 2000] [--jobs 2]
                                 [--tuned --out results/leaderboard/v1-tracks-tuned.jsonl]
                                 [--suite v2 --out results/leaderboard/v2-tracks-....jsonl]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

ALGOS = ("ppo", "a2c", "sac", "td3", "dqn", "maskable_ppo", "favor", "ppo_weights")
# run only when named: they see what no server knows (agents/loading.py:VARIANTS), so their rows
# are references beside the tracks, written to their own file (benchmarks/oracle_headroom.py)
REFERENCE_ALGOS = ("ppo_oracle",)
PICKING = ("dqn", "maskable_ppo", "favor")
GENERALISES_FROM = "iov-default"
# a row's policy label is ``<algo><suffix>`` for its track (training.leaderboard_page reads these)
TRACK_SUFFIX = {"per-scenario": "-per-scenario", "generalisation": "-trained-on-iov"}
TUNED_TAG = "-tuned"  # rows trained with training/hyperparams/tuned/ (bcfl tune)
TRACK_ROUNDS = 2000  # the tracks' first budget; rows at any other budget carry it in their label
CURVE_POINTS = 10  # a run's learning curve: its training episodes in this many bins of steps
# one training job: (algorithm, scenario trained on, training seed, budget in rounds, runs
# folder, tuned hyperparameters, suite the scenario belongs to)
JobSpec = tuple[str, str, int, int, str, bool, str]


def budget_tag(rounds: int) -> str:
    """``""`` at :data:`TRACK_ROUNDS`, else ``-100k`` (or ``-1500r``): rows trained at two
    budgets are two rows."""
    if rounds == TRACK_ROUNDS:
        return ""
    return f"-{rounds // 1000}k" if rounds % 1000 == 0 else f"-{rounds}r"


def learning_curve(episodes: list[dict[str, Any]], total: int) -> list[list[float]]:
    """A run's training episodes in :data:`CURVE_POINTS` bins of steps: ``[steps at the bin's
    end, median simulated time of its episodes [s], share that reached the target]`` per bin
    that holds an episode."""
    import numpy as np

    points = []
    edges = np.linspace(0, total, CURVE_POINTS + 1)
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = [e for e in episodes if low < e["timesteps"] <= high]
        if inside:
            times = [e["sim_time_s"] for e in inside]
            reached = sum(e["reached"] for e in inside) / len(inside)
            points.append([int(high), round(float(np.median(times)), 2), round(reached, 3)])
    return points


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _train(
    algo: str, scenario: Any, seed: int, steps: int, runs: Path, tuned: bool = False
) -> tuple[Any, str]:
    """Train; return (something :func:`_selector` deploys, the hyperparameter entry used).
    ``tuned``: with the study's best hyperparameters (training/tune.py), which must exist."""
    import gymnasium as gym

    if algo == "favor":
        from agents.favor import FavorSelector

        env = gym.make(scenario.env_id, **scenario.overrides)
        selector = FavorSelector(env, timesteps=steps, train_seed=seed)
        path = runs / f"{scenario.name}__favor__{seed}.zip"
        selector.model.save(path)
        env.close()
        return path, hyperparams_used(algo, scenario)
    from agents.loading import VARIANTS
    from training.train import train
    from training.tune import TUNED, load_tuned

    base, env_overrides, variant = VARIANTS.get(algo, (algo, {}, {}))
    params = load_tuned(algo, scenario.name) if tuned else None
    if tuned and params is None:
        raise ValueError(
            f"--tuned: {TUNED / f'{algo}.yml'} has no entry for {scenario.name!r} "
            f"(run bcfl tune {algo} --scenario {scenario.name} first)"
        )
    run = train(
        base, scenario.env_id, steps, seed, None, {**scenario.overrides, **env_overrides}, runs,
        progress=False, checkpoint_every=10**9, keep_checkpoints=1,
        hyperparams={**variant, **(params or {})} or None,
    )  # fmt: skip
    return run / "model.zip", hyperparams_used(algo, scenario, tuned)


def hyperparams_used(algo: str, scenario: Any, tuned: bool = False) -> str:
    """The hyperparameter entry a job of ``algo`` on ``scenario`` trains with (a row's
    ``hyperparams``)."""
    if algo == "favor":
        return "agents/favor.py (train_favor defaults)"
    from agents.loading import VARIANTS
    from training.train import hyperparams_entry

    base, env_overrides, variant = VARIANTS.get(algo, (algo, {}, {}))
    if tuned:
        return f"training/hyperparams/tuned/{algo}.yml#{scenario.name}"
    return f"training/hyperparams/{base}.yml#{hyperparams_entry(base, scenario.env_id)}" + (
        f" with {variant} on {env_overrides}" if variant or env_overrides else ""
    )


def _selector(algo: str, model: Path, env: Any) -> Any:
    if algo == "favor":
        from agents.favor import FavorSelector

        return FavorSelector(env, model=model)
    from agents import load_selector

    return load_selector(model, env)


def job(spec: JobSpec) -> dict[str, Any]:
    """Train ``algo`` on one scenario with one seed, then evaluate it (on every scenario when it
    was trained on :data:`GENERALISES_FROM`)."""
    import gymnasium as gym
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import bcfl_env  # noqa: F401 - registers the ids
    from agents.loading import VARIANTS
    from bcfl_env import unwrap
    from training.evaluate import run_episode
    from training.machine import cpu_model
    from training.suite import SUITES

    algo, scenario_name, seed, rounds, runs_dir, tuned, suite_name = spec
    suite = SUITES[suite_name]
    scenario = next(s for s in suite if s.name == scenario_name)
    probe = gym.make(scenario.env_id, **scenario.overrides)
    k = int(unwrap(probe).budget)
    probe.close()
    steps = rounds * k if algo in PICKING else rounds
    runs = Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, entry = _train(algo, scenario, seed, steps, runs, tuned)
    wall = time.perf_counter() - start
    from training.train import read_episode_log

    curve = learning_curve(read_episode_log(Path(model).parent), steps)
    common = {
        "train_seed": seed, "trained_on": scenario.name, "budget_rounds": rounds,
        "timesteps": steps, "train_wall_s": round(wall, 1), "hyperparams": entry,
        "commit": _commit(), "date": dt.date.today().isoformat(),
        "suite_version": scenario.version, "bcfl_env": bcfl_env.__version__,
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
    }  # fmt: skip
    targets = suite if scenario.name == GENERALISES_FROM else [scenario]
    rows = []
    for target in targets:
        env = gym.make(target.env_id, **target.overrides, **VARIANTS.get(algo, ("", {}, {}))[1])
        selector = _selector(algo, model, env)
        for eval_seed in target.seeds:
            result = run_episode(env, selector, eval_seed)
            max_rounds = int(unwrap(env).config.env.max_rounds)
            base = {"scenario": target.name, "seed": eval_seed, **result, "max_rounds": max_rounds}
            if target.name == scenario.name:
                rows.append(_row(algo, "per-scenario", base, common, tuned))
            if scenario.name == GENERALISES_FROM:
                rows.append(_row(algo, "generalisation", base, common, tuned))
        env.close()
    return {"rows": rows, "curve": {
        "policy": algo + (TUNED_TAG if tuned else "") + budget_tag(rounds), "trained_on":
        scenario.name, "train_seed": seed, "timesteps": steps, "points": curve,
    }}  # fmt: skip


def _row(
    algo: str, track: str, episode: dict[str, Any], common: dict[str, Any], tuned: bool = False
) -> dict[str, Any]:
    """A row labelled ``<algo>[-tuned][-budget]<track suffix>``: runs with tuned and shipped
    hyperparameters, or at two budgets, are separate rows."""
    tag = budget_tag(int(common.get("budget_rounds", TRACK_ROUNDS)))
    label = algo + (TUNED_TAG if tuned else "") + tag + TRACK_SUFFIX[track]
    return {"policy": label, "track": track, **episode, **common}


def curves_path(out: Path) -> Path:
    """Where the learning curves of the runs behind ``out``'s rows go (not a results file)."""
    return out.parent / "curves" / out.name


def parse_curve(line: bytes, where: str) -> dict[str, Any]:
    """One learning curve line, parsed within bounds and checked (a shared file is data);
    an error names ``where`` (file and line)."""
    from bcfl_env.untrusted import parse_untrusted

    try:
        curve = parse_untrusted(line)
        if not isinstance(curve, dict):
            raise ValueError(f"a curve is not an object but {type(curve).__name__}")
        for key, kind in (
            ("policy", str), ("trained_on", str), ("train_seed", int), ("timesteps", int)
        ):  # fmt: skip
            if not isinstance(curve.get(key), kind):
                raise ValueError(f"{key}={curve.get(key)!r} must be a {kind.__name__}")
        points = curve.get("points")
        if not isinstance(points, list) or not all(
            isinstance(p, list) and len(p) == 3 and all(isinstance(v, int | float) for v in p)
            for p in points
        ):
            raise ValueError("points must be a list of [steps, time, reached share] triples")
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return curve


def _done(out: Path) -> set[tuple[str, str, int, int]]:
    """(algo, scenario trained on, seed, budget) of the jobs whose rows ``out`` already holds."""
    done = set()
    if out.is_file():
        for line in out.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                key = (r["policy"].split("-")[0], r["trained_on"], int(r["train_seed"]))
                done.add((*key, int(r.get("budget_rounds", TRACK_ROUNDS))))
    return done


def reused_job(sources: list[Path], spec: JobSpec) -> dict[str, Any] | None:
    """A per-scenario job on :data:`GENERALISES_FROM` that the generalisation track has already
    run: the same job (algorithm, seed, budget, hyperparameters) trained the same model there and
    evaluated it on its own scenario too, so its episodes there are this job's, relabelled. Returns
    the job's result (rows marked ``reused_from``, and its learning curve), or None where no
    source holds every held-out seed of it."""
    from training.leaderboard import read_rows
    from training.suite import SUITE_VERSION, SUITES

    algo, scenario_name, seed, rounds, _, tuned, suite_name = spec
    if scenario_name != GENERALISES_FROM or suite_name != "default":
        return None
    scenario = next(s for s in SUITES["default"] if s.name == scenario_name)
    label = algo + (TUNED_TAG if tuned else "") + budget_tag(rounds)
    entry = hyperparams_used(algo, scenario, tuned)
    for source in sources:
        rows = [
            r
            for r in read_rows([source])
            if r["policy"] == label + TRACK_SUFFIX["generalisation"]
            and r["scenario"] == scenario_name
            and r.get("trained_on") == scenario_name
            and r.get("train_seed") == seed
            and r.get("budget_rounds", TRACK_ROUNDS) == rounds
            and r.get("hyperparams") == entry
            and r.get("suite_version") == SUITE_VERSION
        ]
        if sorted(r["seed"] for r in rows) != sorted(scenario.seeds):
            continue
        curve = {"policy": label, "trained_on": scenario_name, "train_seed": seed, "points": []}
        curves = curves_path(source)
        lines = curves.read_bytes().splitlines() if curves.is_file() else []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            c = parse_curve(line, f"{curves.name}:{n}")
            if (c["policy"], c["trained_on"], c["train_seed"]) == (label, scenario_name, seed):
                curve = c
        relabelled = [
            {**r, "policy": label + TRACK_SUFFIX["per-scenario"], "track": "per-scenario",
             "reused_from": f"{source.name}: {r['policy']}"}
            for r in rows
        ]  # fmt: skip
        return {"rows": relabelled, "curve": curve}
    return None


def run_tracks(
    out: Path, algos: list[str] | tuple[str, ...] = ALGOS, seeds: list[int] | None = None,
    rounds: int = 2000, scenarios: list[str] | None = None, jobs: int = 2,
    runs_dir: Path | None = None, backend: str = "pool", address: str | None = None,
    tuned: bool = False, tracks: tuple[str, ...] = tuple(TRACK_SUFFIX),
    reuse: list[Path] | None = None, suite: str = "default",
) -> int:  # fmt: skip
    """Run every (algorithm, scenario, seed) job not yet in ``out``; returns how many ran.

    ``tuned``: every algorithm trains with its tuned hyperparameters (training/tune.py; write
    these rows to their own ``out``). ``tracks``: the tracks whose rows are written; the
    generalisation track alone trains on :data:`GENERALISES_FROM` only. ``backend='pool'``: ``jobs`` local processes, rows
    written as each job ends (an interrupted run resumes). ``backend='ray'``: one Ray task per
    job (a local cluster of ``jobs`` CPUs, or the one at ``address``), rows written when all
    have ended. ``reuse``: results files of the generalisation track; a per-scenario job on
    :data:`GENERALISES_FROM` found there (:func:`reused_job`) takes its rows from there instead
    of training the same model again. ``suite``: the suite whose scenarios the jobs train on
    (``v2``: the per-scenario track only; its generalisation rows are the default suite's
    iov-default models evaluated there, ``bcfl evaluate --suite v2 --train-seed``).
    """
    from training.suite import SUITES

    unknown = set(tracks) - set(TRACK_SUFFIX)
    if unknown or not tracks:
        raise ValueError(f"tracks={list(tracks)} is not allowed: choose from {list(TRACK_SUFFIX)}")
    if suite not in SUITES:
        raise ValueError(f"suite={suite!r} is not allowed: choose one of {sorted(SUITES)}")
    if suite != "default" and tuple(tracks) != ("per-scenario",):
        raise ValueError(
            f"suite={suite!r} runs the per-scenario track only (tracks=['per-scenario']): "
            f"the generalisation track trains on the default suite's {GENERALISES_FROM}"
        )
    names = [s.name for s in SUITES[suite]]
    scenarios = scenarios or names
    if "per-scenario" not in tracks:  # the generalisation track trains on its source alone
        scenarios = [GENERALISES_FROM]
    outside = sorted(set(scenarios) - set(names))
    if outside:
        raise ValueError(f"scenarios {outside} are not in suite {suite!r}: choose from {names}")
    if reuse and tuple(tracks) != ("per-scenario",):
        raise ValueError(
            f"reuse with tracks={list(tracks)}: reuse gives the per-scenario track rows the "
            "generalisation track already has, so it needs tracks=['per-scenario']"
        )
    runs_dir = runs_dir or Path(tempfile.gettempdir()) / "bcfl-track-runs"
    done = _done(out)
    specs = [
        (algo, scenario, seed, rounds, str(runs_dir), tuned, suite)
        for seed in (seeds if seeds is not None else [0, 1, 2])
        for scenario in sorted(scenarios, key=lambda s: s != GENERALISES_FROM)
        for algo in algos
        if (algo, scenario, seed, rounds) not in done
    ]
    reused = []
    if reuse:
        found = [(spec, reused_job(reuse, spec)) for spec in specs]
        reused = [result for _, result in found if result is not None]
        specs = [spec for spec, result in found if result is None]
    print(
        f"{len(specs)} training jobs ({len(done)} already done, {len(reused)} reused), "
        f"backend {backend}",
        flush=True,
    )
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(result: dict[str, Any]) -> None:
        rows = [r for r in result["rows"] if r["track"] in tracks]
        if result["curve"]["points"]:
            curves = curves_path(out)
            curves.parent.mkdir(parents=True, exist_ok=True)
            with curves.open("a") as fh:
                fh.write(json.dumps(result["curve"]) + "\n")
        with out.open("a") as fh:  # the rows last: a job counts as done once they are written
            for r in rows:
                fh.write(json.dumps(r) + "\n")
        r = rows[0]
        print(
            f"{r['policy']:<26} trained on {r['trained_on']:<21} seed {r['train_seed']} "
            f"{r['train_wall_s']:7.1f} s, {len(rows)} episodes"
            + (f" (reused from {r['reused_from']})" if "reused_from" in r else ""),
            flush=True,
        )

    for result in reused:
        write(result)
    if not specs:
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if backend == "ray":
        from ray import cloudpickle

        from training.backends import run_jobs

        # a Ray worker on another machine may lack this checkout: ship the functions by value
        cloudpickle.register_pickle_by_value(sys.modules[__name__])

        for result in run_jobs(job, [(spec,) for spec in specs], "ray", address, num_cpus=jobs):
            write(result)
        return len(specs)
    if backend != "pool":
        raise ValueError(f"backend={backend!r} is not allowed: choose one of ['pool', 'ray']")
    failed: list[str] = []
    with mp.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
        for spec, outcome in pool.imap_unordered(_job_or_error, specs):
            if isinstance(outcome, str):  # one job's failure costs that job, not the others
                failed.append(f"{spec[0]} on {spec[1]} seed {spec[2]}: {outcome}")
                print(f"FAILED {failed[-1]}", flush=True)
            else:
                write(outcome)
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(specs)} training jobs failed (the others' rows are written; "
            "a rerun retries only the failed ones):\n" + "\n".join(failed)
        )
    return len(specs)


def _job_or_error(spec: JobSpec) -> tuple[JobSpec, dict[str, Any] | str]:
    """:func:`job`, or the traceback of its failure (so the pool goes on with the other jobs)."""
    try:
        return spec, job(spec)
    except Exception:  # noqa: BLE001 - reported with its traceback, and the run fails at its end
        import traceback

        return spec, traceback.format_exc()


def main() -> int:
    from training.suite import SUITES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS + REFERENCE_ALGOS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=2000, help="training budget in FL rounds")
    parser.add_argument(
        "--suite", choices=sorted(SUITES), default="default", help="the suite of the scenarios"
    )
    parser.add_argument("--scenarios", nargs="+", default=None, help="default: the whole suite")
    parser.add_argument("--jobs", type=int, default=2, help="parallel training processes")
    parser.add_argument("--backend", choices=("pool", "ray"), default="pool")
    parser.add_argument("--address", default=None, help="a Ray cluster to join (--backend ray)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "results" / "leaderboard" / "v1-tracks.jsonl"
    )
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument(
        "--tuned", action="store_true", help="train with training/hyperparams/tuned/ (bcfl tune)"
    )
    parser.add_argument(
        "--tracks",
        nargs="+",
        default=None,
        choices=list(TRACK_SUFFIX),
        help="the tracks whose rows are written (generalisation alone: train on iov-default only; "
        "default: both, or per-scenario for another suite than the default)",
    )
    parser.add_argument(
        "--reuse",
        nargs="+",
        type=Path,
        default=None,
        help="generalisation-track results: a per-scenario job on iov-default found there takes "
        "its rows from there (the same model) instead of training again",
    )
    args = parser.parse_args()
    if args.tracks is None:
        args.tracks = list(TRACK_SUFFIX) if args.suite == "default" else ["per-scenario"]
    run_tracks(
        args.out, args.algos, args.seeds, args.rounds, args.scenarios, args.jobs,
        args.runs_dir, args.backend, args.address, args.tuned, tuple(args.tracks), args.reuse,
        args.suite,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
