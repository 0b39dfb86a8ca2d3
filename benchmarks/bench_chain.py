"""Ledger verification speed against a raw Ed25519 loop of the same signature count.

Builds a ledger of 1,000 blocks x 10 updates with the real chain (CA, tasks, signed updates,
committee ballots, quorum certificates), then times ``Ledger.verify()`` and, in the same run, a
plain loop of as many Ed25519 verifications as ``verify`` checked. Usage:
python benchmarks/bench_chain.py [--blocks 1000] [--updates 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bcfl_env.chain import PermissionedChain
from bcfl_env.config import ChainConfig


def build(blocks: int, updates: int) -> PermissionedChain:
    chain = PermissionedChain(
        ChainConfig(), np.random.default_rng(0), [f"rsu{i}" for i in range(4)]
    )
    vehicles = [f"veh{i}" for i in range(updates * 2)]
    chain.genesis(vehicles, b"model-0")
    base = next(iter(chain.published))
    ones = lambda members, cands: (np.ones((len(members), len(cands))), np.zeros(len(members)))  # noqa: E731
    for r in range(1, blocks + 1):
        chosen = vehicles[(r % 2) * updates : (r % 2) * updates + updates]
        chain.assign_task(r, base, chosen, float(r))
        txs = [
            chain.sign_update(v, r, base, f"{v}/{r}".encode() * 64, 10, {"loss": 0.5})
            for v in chosen
        ]
        verdict = chain.verify_updates(r, txs, float(r), ones)
        base = chain.record_aggregation(
            r, r, f"global/{r}".encode() * 64, [(c.tx.tx_id, 0.1) for c in verdict.accepted]
        )
        chain.seal_block(r, float(r))
    return chain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    t = time.perf_counter()
    chain = build(args.blocks, args.updates)
    print(f"built {args.blocks} blocks x {args.updates} updates in {time.perf_counter() - t:.1f} s")
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public, message = key.public_key(), b"x" * 200
    signature = key.sign(message)
    ledger_times, raw_times, count = [], [], 0
    for _ in range(args.repeats):
        t = time.perf_counter()
        report = chain.ledger.verify()
        ledger_times.append(time.perf_counter() - t)
        count = report.signatures
        t = time.perf_counter()
        for _ in range(count):
            public.verify(signature, message)
        raw_times.append(time.perf_counter() - t)
    lv, rv = np.median(ledger_times), np.median(raw_times)
    print(
        f"signatures checked by verify(): {count}  transactions: {report.transactions}  models re-hashed: {report.models}"
    )
    print(f"ledger verify: median {lv:.3f} s = {count / lv:,.0f} signatures/s")
    print(f"raw Ed25519 loop: median {rv:.3f} s = {count / rv:,.0f} verifications/s")
    print(f"ratio (ledger rate / raw rate): {rv / lv:.2f}  (target >= 0.70)")


if __name__ == "__main__":
    main()
