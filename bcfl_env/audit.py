"""``python -m bcfl_env.audit [--deep] FILE``: verify a saved ledger; ``--deep`` also recomputes
every global model from its base and inputs (:mod:`bcfl_env.provenance`). Exit 1 on failure."""

from __future__ import annotations

import argparse
import sys

from bcfl_env.chain.audit import audit
from bcfl_env.provenance import recompute_model

__all__ = ["main"]


def _is_block_hash(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text.lower())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bcfl audit", description=__doc__)
    parser.add_argument("ledger", help="SQLite file written by Ledger.save")
    parser.add_argument(
        "--deep",
        action="store_true",
        help="also recompute every global model and match its recorded hash (CPU-exact)",
    )
    parser.add_argument(
        "--expect-head", help="a block hash known out of band; the ledger must contain it"
    )
    parser.add_argument(
        "--min-height", type=int, help="a height known out of band; a shorter ledger fails"
    )
    args = parser.parse_args(argv)
    if args.expect_head is not None and not _is_block_hash(args.expect_head):
        # an unset shell variable gives "": that must not switch the rollback check off
        parser.error(
            f"--expect-head={args.expect_head!r} is not a block hash: expected 64 hex digits "
            "(the full head the audit prints)"
        )
    ok, text = audit(
        args.ledger, recompute_model if args.deep else None, args.expect_head, args.min_height
    )
    print(text, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
