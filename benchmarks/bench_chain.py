"""Ledger verification speed against a raw Ed25519 loop, and the deep audit against the episode.

1. Builds a ledger of 1,000 blocks x 10 updates with the real chain (CA, tasks, signed updates,
   ballots, certified blocks, aggregations), then times ``Ledger.verify()`` and, in the same run,
   a plain loop of as many Ed25519 verifications as ``verify`` checked (target ratio >= 0.70).
2. Runs a 60-round IoV episode (random selection, saving its ledger), then times
   ``bcfl audit --deep`` work (load, verify, recompute every global model) against that episode's
   own wall time (target: the audit is faster).

Usage: python benchmarks/bench_chain.py [--blocks 1000] [--updates 10] [--repeats 3] [--rounds 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import bcfl_env  # noqa: F401
from bcfl_env.chain import Ledger, PermissionedChain
from bcfl_env.config import ChainConfig
from bcfl_env.provenance import recompute_model


def build(blocks: int, updates: int) -> PermissionedChain:
    chain = PermissionedChain(
        ChainConfig(), np.random.default_rng(0), [f"rsu{i}" for i in range(4)]
    )
    vehicles = [f"veh{i}" for i in range(updates * 2)]
    chain.genesis(vehicles, b"model-0")
    ones = lambda members, cands: (np.ones((len(members), len(cands))), np.zeros(len(members)))  # noqa: E731
    for r in range(1, blocks + 1):
        base = chain.tasks.latest[1]  # type: ignore[index]
        chosen = vehicles[(r % 2) * updates : (r % 2) * updates + updates]
        chain.assign_task(r, base, chosen, float(r))
        txs = [
            chain.sign_update(v, r, base, f"{v}/{r}".encode() * 64, 10, {"loss": 0.5})
            for v in chosen
        ]
        outcome = chain.run_round(r, txs, float(r), ones)
        latest, k = chain.tasks.latest[0], len(outcome.accepted)  # type: ignore[index]
        weights = chain.aggregation.weights(
            np.full(k, 10), chain.aggregation.staleness(latest, np.full(k, latest))
        )
        chain.record_aggregation(
            r, latest + chain.aggregation.versions_advanced(k), f"global/{r}".encode() * 64,
            [(c.tx.tx_id, float(w)) for c, w in zip(outcome.accepted, weights, strict=True)],
        )  # fmt: skip
    return chain


def verify_vs_raw(blocks: int, updates: int, repeats: int) -> None:
    t = time.perf_counter()
    chain = build(blocks, updates)
    print(f"built {blocks} blocks x {updates} updates in {time.perf_counter() - t:.1f} s")
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public, message = key.public_key(), b"x" * 200
    signature = key.sign(message)
    ledger_times, raw_times, count = [], [], 0
    for _ in range(repeats):
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


def deep_audit_vs_episode(rounds: int, repeats: int) -> None:
    torch.set_num_threads(1)
    env = gym.make("bcfl/IoV-v1", max_rounds=rounds, target_accuracy=1.0)
    env.reset(seed=0)
    env.action_space.seed(0)
    t = time.perf_counter()
    for _ in range(rounds):
        env.step(env.action_space.sample())
    episode_s = time.perf_counter() - t
    path = Path(tempfile.mkdtemp()) / "ledger.sqlite"
    env.unwrapped.ledger.save(path)
    audit_times = []
    for _ in range(repeats):
        t = time.perf_counter()
        report = Ledger.load(path).verify(recompute=recompute_model)
        audit_times.append(time.perf_counter() - t)
    audit_s = float(np.median(audit_times))
    print(
        f"IoV episode of {rounds} rounds: {episode_s:.2f} s; deep audit (load, verify, "
        f"{report.models_recomputed} models recomputed): median {audit_s:.2f} s; "
        f"audit / episode = {audit_s / episode_s:.2f}  (target < 1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    verify_vs_raw(args.blocks, args.updates, args.repeats)
    deep_audit_vs_episode(args.rounds, args.repeats)


if __name__ == "__main__":
    main()
