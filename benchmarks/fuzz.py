"""Large Hypothesis fuzzing profile: ``--cases`` (10,000) cases over the five targets of
``bcfl_env/fuzz_targets.py`` (configs, actions, reset arguments, update payloads, ledger cells).

Every case must end in a clear refusal or a valid result; an unexpected exception type or a case
that runs past ``--case-timeout`` seconds (a hang) is a finding, printed with the case that
triggered it. Prints a markdown table (cases, outcomes, findings, time per target) and, with
``--json``, writes the counts. Exit status 1 when there is any finding.

Usage: python benchmarks/fuzz.py [--cases 10000] [--case-timeout 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

import bcfl_env.fuzz_targets as ft

# share of the cases per target (actions and payloads step real training and real rounds)
SHARES = {"configs": 0.3, "actions": 0.2, "reset arguments": 0.1, "update payloads": 0.2,
          "ledger cells": 0.2}  # fmt: skip


class Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


def run_target(
    name: str, strategy: Any, target: Callable[[Any], str], cases: int, timeout_s: int
) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    findings: list[str] = []

    @settings(
        max_examples=cases, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(strategy)
    def case(value: Any) -> None:
        signal.alarm(timeout_s)
        try:
            outcomes[target(value)] += 1
        except Hang:
            outcomes["HANG"] += 1
            findings.append(f"hang: {value!r}"[:300])
        except Exception as exc:  # an unexpected exception type: the finding itself
            outcomes[f"UNEXPECTED {type(exc).__name__}"] += 1
            findings.append(f"{type(exc).__name__}: {exc} for {value!r}"[:300])
        finally:
            signal.alarm(0)

    start = time.perf_counter()
    case()
    return {
        "target": name,
        "cases": sum(outcomes.values()),
        "outcomes": dict(outcomes),
        "findings": findings,
        "seconds": time.perf_counter() - start,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--case-timeout", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    import torch

    torch.set_num_threads(1)
    payloads, cells = ft.PayloadTarget(), ft.CellTarget()
    targets = {
        "configs": (ft.CONFIG_CASES, ft.config_case),
        "actions": (ft.ACTIONS, ft.ActionTarget()),
        "reset arguments": (ft.RESETS, ft.ResetTarget()),
        "update payloads": (ft.PAYLOADS, payloads),
        "ledger cells": (ft.CELLS, cells),
    }
    results = []
    for name, (strategy, target) in targets.items():
        n = max(1, round(args.cases * SHARES[name]))
        results.append(run_target(name, strategy, target, n, args.case_timeout))
        print(f"{name}: {results[-1]['cases']} cases in {results[-1]['seconds']:.0f} s", flush=True)
    payloads.verify()  # the ledger of every fuzzed round still verifies
    cells.close()
    print("\n| target | cases | outcomes | unexpected exceptions | hangs | time [s] |")
    print("|---|---|---|---|---|---|")
    for r in results:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
        unexpected = sum(v for k, v in r["outcomes"].items() if k.startswith("UNEXPECTED"))
        print(
            f"| {r['target']} | {r['cases']} | {outcomes} | {unexpected} | "
            f"{r['outcomes'].get('HANG', 0)} | {r['seconds']:.0f} |"
        )
    total = sum(r["cases"] for r in results)
    findings = [f for r in results for f in r["findings"]]
    print(f"\n{total} cases, {len(findings)} findings")
    for finding in findings[:20]:
        print("  ", finding)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
