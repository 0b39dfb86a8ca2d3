"""Is a scenario's headroom out of reach for want of observation? PPO that sees oracle features.

Trains the per-scenario track's recipe (the shipped PPO with the set policy, its YAML entry, the
same budget in FL rounds) on each named scenario, but observing the oracle features as well as
the server's (true CPU frequency, label entropy and round trip, which no server knows:
``agents/loading.py``, variant ``ppo_oracle``), evaluates it on the scenario's held-out seeds, and
sets it beside the same recipe without them (the committed per-scenario track, the same training
seeds), random, Oort, the planner, and the planner without foresight where
``results/experiments/v1-planner-no-foresight.jsonl`` has it (``python
benchmarks/planner_ceiling.py --policy planner-no-foresight --label planner-no-foresight --out
results/experiments/v1-planner-no-foresight.jsonl``), with the leaderboard's own statistics. If
the oracle model closes much more of the headroom, what the policy lacks is observation; if
not, the planner's lead comes from what it simulates, which no feature holds.

The rows are a reference, not a selector a server could run, so they go to their own file and
never into ``results/leaderboard/``; the training resumes (a finished job is skipped).

Usage: python benchmarks/oracle_headroom.py [--scenarios ioht iov-default] [--seeds 0]
                                            [--rounds 100000] [--jobs 2]
Writes: results/experiments/v1-oracle-100k.jsonl (+ curves/), results/experiments/oracle/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.leaderboard import leaderboard_of_rows, read_rows, summary_lines
from training.tracks import budget_tag, run_tracks

ROOT = Path(__file__).resolve().parents[1]

LEADERBOARD = ROOT / "results" / "leaderboard"
EXPERIMENTS = ROOT / "results" / "experiments"
COMPARED = ("random", "oort", "planner")


def compare(
    oracle_file: Path,
    out_dir: Path,
    rounds: int,
    committed_dir: Path = LEADERBOARD,
    references: list[Path] | None = None,
) -> list[dict]:
    """The oracle rows beside the committed rows (``committed_dir``'s suite v1 files) of the same
    scenarios and training seeds, and the rows of ``references`` (other reference runs, such as
    the planner without foresight) on those scenarios; writes their leaderboard tables to
    ``out_dir``."""
    oracle = read_rows([oracle_file])
    scenarios = {r["scenario"] for r in oracle}
    seeds = {int(r["train_seed"]) for r in oracle}
    oracle += [r for r in read_rows(references or []) if r["scenario"] in scenarios]
    server = f"ppo{budget_tag(rounds)}-per-scenario"
    committed = read_rows(sorted(committed_dir.glob("v1-*.jsonl")))
    keep = [
        r
        for r in committed
        if r["scenario"] in scenarios
        and (r["policy"] in COMPARED or (r["policy"] == server and int(r["train_seed"]) in seeds))
    ]
    if not any(r["policy"] == server for r in keep):
        raise ValueError(
            f"no committed {server} rows for {sorted(scenarios)}, seeds {sorted(seeds)}"
        )
    return leaderboard_of_rows(keep + oracle, out_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=["ioht", "iov-default"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--rounds", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs-dir", type=Path, default=None)
    args = parser.parse_args()
    out = EXPERIMENTS / f"v1-oracle{budget_tag(args.rounds)}.jsonl"
    run_tracks(
        out, algos=["ppo_oracle"], seeds=args.seeds, rounds=args.rounds,
        scenarios=args.scenarios, jobs=args.jobs, runs_dir=args.runs_dir,
        tracks=("per-scenario",),
    )  # fmt: skip
    planners = sorted(EXPERIMENTS.glob("v1-planner-*.jsonl"))  # planner_ceiling.py --out ...
    table = compare(out, EXPERIMENTS / "oracle", args.rounds, references=planners)
    print("\n".join(summary_lines(table)))
    print(f"tables: {EXPERIMENTS / 'oracle'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
