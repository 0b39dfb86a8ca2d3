"""Audit a saved ledger: ``python -m bcfl_env.chain.audit FILE``; exits 1 when verification fails.

``bcfl audit --deep FILE`` (:mod:`bcfl_env.audit`) also recomputes every global model.
"""

from __future__ import annotations

import argparse
import sys

from bcfl_env.chain.errors import LedgerIntegrityError
from bcfl_env.chain.ledger import Ledger
from bcfl_env.chain.verify import ModelRecompute

__all__ = ["audit", "main"]


def audit(
    path: str,
    recompute: ModelRecompute | None = None,
    expect_head: str | None = None,
    min_height: int | None = None,
) -> tuple[bool, str]:
    """Load and verify ``path``; returns (ok, printable summary or the error).

    ``expect_head`` and ``min_height`` are what the auditor knows out of band (a head hash or
    height published earlier): a rolled-back copy, consistent in itself, fails against them.
    """
    try:
        ledger = Ledger.load(path)
        report = ledger.verify(recompute=recompute)
        if min_height is not None and ledger.height < min_height:
            raise LedgerIntegrityError(
                None, f"height {ledger.height} is below the expected minimum {min_height}"
            )
        if expect_head is not None and expect_head not in {b.block_hash for b in ledger.blocks}:
            raise LedgerIntegrityError(
                None,
                f"head {expect_head[:16]}... is not in this ledger (head {ledger.head_hash[:16]}...)",
            )
    except LedgerIntegrityError as exc:
        return False, f"FAILED: {exc}"
    models = f"{report.models} re-hashed"
    if recompute is not None:
        models += f", {report.models_recomputed} global models recomputed from their inputs"
    lines = [
        f"ledger {path}: OK",
        f"  blocks        {report.blocks}, signed by the MBS",
        f"  head          {ledger.head_hash}",
        f"  transactions  {report.transactions}  "
        + ", ".join(f"{k}={v}" for k, v in sorted(report.kinds.items())),
        f"  signatures    {report.signatures} checked",
        f"  certificates  {report.certificates} ({report.revocations} revoked)",
        f"  updates       {report.updates_accepted} accepted, {report.updates_rejected} rejected "
        f"(every verdict re-tallied from its ballots)",
        f"  aggregations  {report.aggregations} (inputs, weights and bases re-checked)",
        f"  models        {models}",
        f"  consensus     {report.view_changes} view changes",
        f"  evidence      {report.evidence} equivocation records",
        f"  keys          {KEY_SOURCE_LABELS.get(report.key_source, report.key_source)}",
    ]
    return True, "\n".join(lines)


KEY_SOURCE_LABELS = {
    "secret": "secret (OS randomness)",
    "seed": "DERIVED FROM THE ENV SEED: a simulation ledger; anyone who knows the env id, "
    "overrides and seed can rebuild every key and forge it, so only --expect-head proves it",
    "unlabelled": "unlabelled (written before key sources were recorded)",
}


def main(argv: list[str] | None = None, recompute: ModelRecompute | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bcfl-audit", description=__doc__)
    parser.add_argument("ledger", help="SQLite file written by Ledger.save")
    args = parser.parse_args(argv)
    ok, text = audit(args.ledger, recompute)
    print(text, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
