"""Move a training track's finished runs from ``results/leaderboard/pending/`` to the leaderboard.

A track's rows accumulate over several sessions (``python -m training.tracks --out
results/leaderboard/pending/<file>`` skips the jobs a file already holds). The leaderboard reads
only the files beside ``pending/``, because a suite-wide interval needs the same episodes in every
scenario: a run (one policy label, one training seed) moves there once it holds every held-out
seed of every scenario of its suite, with its learning curves (``curves/<file>`` beside each).

Usage: python -m training.promote results/leaderboard/pending/<file> --to
       results/leaderboard/v1-tracks-100k-per-scenario.jsonl [--suite default]

Run it while no track run writes to the pending file (a run appends there as each job ends).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from training.leaderboard import parse_row, read_rows
from training.suite import SUITES
from training.tracks import TRACK_SUFFIX, curves_path, parse_curve

Run = tuple[str, int]  # (policy label, training seed)


def complete_runs(rows: list[dict], suite: str = "default") -> set[Run]:
    """The runs whose rows hold each held-out seed of every scenario of ``suite`` exactly once."""
    if suite not in SUITES:
        raise ValueError(f"suite={suite!r} is not allowed: choose one of {sorted(SUITES)}")
    wanted = {s.name: sorted(s.seeds) for s in SUITES[suite]}
    seen: dict[Run, dict[str, list[int]]] = {}
    for r in rows:
        run = (r["policy"], int(r.get("train_seed", -1)))
        seen.setdefault(run, {}).setdefault(r["scenario"], []).append(int(r["seed"]))
    return {
        run
        for run, by_scenario in seen.items()
        if all(sorted(by_scenario.get(name, [])) == seeds for name, seeds in wanted.items())
    }


def _label(policy: str) -> str:
    """A curve's label: the row's policy without its track suffix."""
    for suffix in TRACK_SUFFIX.values():
        if policy.endswith(suffix):
            return policy[: -len(suffix)]
    return policy


def _split_lines(
    path: Path, parse: Callable[[bytes, str], dict], moves: Callable[[dict], bool]
) -> tuple[list[str], list[str]]:
    """The lines of ``path`` that ``moves`` (of each parsed line) and the rest, as written."""
    moved: list[str] = []
    kept: list[str] = []
    if path.is_file():
        for n, line in enumerate(path.read_bytes().splitlines(), start=1):
            if line.strip():
                parsed = parse(line, f"{path.name}:{n}")  # refuses invalid UTF-8 by line
                (moved if moves(parsed) else kept).append(line.decode())
    return moved, kept


def _rewrite(path: Path, lines: list[str]) -> None:
    """``path`` holding ``lines`` only (removed when none is left)."""
    if not lines:
        path.unlink()
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, path)


def _append(path: Path, lines: list[str]) -> None:
    if lines:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write("".join(line + "\n" for line in lines))


def promote(pending: Path, final: Path, suite: str = "default") -> list[Run]:
    """Move the complete runs of ``pending`` (rows, then curves) to ``final``; returns them.

    Raises:
        ValueError: a row that does not validate (named by file and line), an unknown suite,
            or a complete run that ``final`` already holds (it would count twice).
    """
    if suite not in SUITES:
        raise ValueError(f"suite={suite!r} is not allowed: choose one of {sorted(SUITES)}")
    runs = complete_runs(read_rows([pending]), suite)
    if not runs:
        return []
    already = {
        (r["policy"], int(r.get("train_seed", -1))) for r in read_rows([final])
    } if final.is_file() else set()  # fmt: skip
    clash = sorted(runs & already)
    if clash:
        raise ValueError(f"{final} already holds the runs {clash}: they would count twice")
    labels = {(_label(policy), seed) for policy, seed in runs}
    moved, kept = _split_lines(
        pending, parse_row, lambda r: (r["policy"], int(r.get("train_seed", -1))) in runs
    )
    curves_moved, curves_kept = _split_lines(
        curves_path(pending), parse_curve, lambda c: (c["policy"], c["train_seed"]) in labels
    )
    _append(final, moved)  # the leaderboard's file first: a crash here leaves a copy, not a loss
    _append(curves_path(final), curves_moved)
    _rewrite(pending, kept)
    if curves_path(pending).is_file():
        _rewrite(curves_path(pending), curves_kept)
    return sorted(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pending", type=Path, help="a results file in results/leaderboard/pending/")
    parser.add_argument("--to", type=Path, required=True, help="the leaderboard's results file")
    parser.add_argument("--suite", choices=sorted(SUITES), default="default")
    args = parser.parse_args()
    for policy, seed in promote(args.pending, args.to, args.suite):
        print(f"moved {policy} (training seed {seed}) to {args.to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
