"""How much of the suite's headroom is foresight? The planner without it beside the learned rows.

The leaderboard's score runs from random selection (0) to the planner (1), and the planner sees
the realised future: its clones share the world's generators. ``planner-no-foresight-x4``
(``agents/planner.py``) runs the same rollouts on clones of the true present whose generators
are reseeded, averaging 4 sampled futures per candidate: a server with a perfect simulator and
no sight of the future. Where it closes about what the learned rows close, the rest of the
headroom is what no server can know; where it closes much more, a better policy could too.

This sets every reference file's complete policies (``results/experiments/v1-planner-*.jsonl``
by default; ``python benchmarks/planner_ceiling.py --policy planner-no-foresight-x4 --label
planner-no-foresight-x4 --out results/experiments/v1-planner-no-foresight-x4.jsonl`` writes
one) beside the committed random, Oort, planner and the best learned rows of both tracks, with
the leaderboard's statistics. A reference policy that lacks a scenario is left out, since its
suite-wide interval would stand on fewer scenarios than the others'.

Usage: python benchmarks/foresight_headroom.py [--references FILE ...] [--scenarios ...]
                                               [--out DIR]
Writes: results/experiments/foresight/ (leaderboard.md, .csv, .json)
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

from training.leaderboard import leaderboard_of_rows, read_rows, summary_lines

ROOT = Path(__file__).resolve().parents[1]
LEADERBOARD = ROOT / "results" / "leaderboard"
EXPERIMENTS = ROOT / "results" / "experiments"
# the references, and the learned rows that close most of the headroom on each track
COMPARED = ("random", "oort", "planner", "ppo-100k-per-scenario", "ppo-100k-trained-on-iov")


def complete_policies(rows: list[dict[str, Any]], scenarios: set[str]) -> list[dict[str, Any]]:
    """The rows of the policies that ran every one of ``scenarios``."""
    seen: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        seen[r["policy"]].add(r["scenario"])
    return [r for r in rows if seen[r["policy"]] >= scenarios]


def compare(
    references: list[Path],
    out_dir: Path,
    committed_dir: Path = LEADERBOARD,
    scenarios: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The policies of ``references`` that ran every one of ``scenarios`` (default: every
    scenario the planner ran) beside ``COMPARED`` from ``committed_dir``'s suite v1 files, on
    those scenarios; writes their leaderboard tables to ``out_dir`` and returns the table."""
    committed = [
        r for r in read_rows(sorted(committed_dir.glob("v1-*.jsonl"))) if r["policy"] in COMPARED
    ]
    planned = {r["scenario"] for r in committed if r["policy"] == "planner"}
    if scenarios is not None and not set(scenarios) <= planned:
        raise ValueError(
            f"scenarios {sorted(set(scenarios) - planned)}: choose from {sorted(planned)}"
        )
    wanted = set(scenarios) if scenarios is not None else planned
    committed = [r for r in committed if r["scenario"] in wanted]
    extra = complete_policies(read_rows(references), wanted)
    if not extra:
        raise ValueError(f"no policy in {[p.name for p in references]} ran all of {sorted(wanted)}")
    clash = {r["policy"] for r in extra} & set(COMPARED)
    if clash:
        raise ValueError(f"reference rows reuse the committed policy names {sorted(clash)}")
    return leaderboard_of_rows(committed + [r for r in extra if r["scenario"] in wanted], out_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--references", nargs="+", type=Path,
        default=sorted(EXPERIMENTS.glob("v1-planner-*.jsonl")),
    )  # fmt: skip
    parser.add_argument("--scenarios", nargs="+", default=None, help="default: all seven")
    parser.add_argument("--out", type=Path, default=EXPERIMENTS / "foresight")
    args = parser.parse_args()
    table = compare(args.references, args.out, scenarios=args.scenarios)
    print("\n".join(summary_lines(table)))
    print(f"tables: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
