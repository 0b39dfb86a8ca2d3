"""Signed transactions.

A transaction is ``body`` (canonical bytes of ``{"kind", "sender", "payload"}``) plus the sender's
Ed25519 signature over ``body``. Its id is ``SHA-256(body || signature)``. Kinds and payloads:

===============  ======  ===================================================================
kind             sender  payload
===============  ======  ===================================================================
``enrol``        CA      identity, role, cert (DER hex)
``revoke``       CA      identity, serial, reason
``task``         MBS     round, base_model (hash), selected (identities): who may submit
``global_model`` MBS     round, version, model (hash of the parameters in the model store)
``update``       vehicle round (task round), base_model, params (hash), samples, metrics
``ballot``       member  round, baseline, votes: [[update id, score, accept], ...] (one per member)
``verdict``      leader  round, accepted: [update id, ...], rejected: [[id, sender, reason], ...]
``aggregation``  MBS     round, version, base_model, model (new hash), inputs: [[update id, weight]]
``evidence``     member  member, height, headers: two signed headers at one height, signatures
``view_change``  member  round, height, view, leader, signatures, needed: one failed view
===============  ======  ===================================================================
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from bcfl_env.chain.crypto import KeyPair, canonical_bytes, sha256_hex
from bcfl_env.untrusted import parse_untrusted

__all__ = ["KINDS", "Transaction", "make_transaction"]

MAX_BODY_BYTES = 16 << 20  # the largest transaction body any participant may sign [bytes]

KINDS = (
    "enrol",
    "revoke",
    "task",
    "global_model",
    "update",
    "ballot",
    "verdict",
    "aggregation",
    "evidence",
    "view_change",
    "dag_anchor",
)


@dataclass(frozen=True)
class Transaction:
    body: bytes
    signature: bytes

    @functools.cached_property
    def tx_id(self) -> str:
        # both fields are immutable bytes, and ids are looked up dozens of times per round
        return sha256_hex(self.body + self.signature)

    def envelope(self) -> dict[str, Any]:
        """The body as ``{kind, sender, payload}``, of any kind; ``ValueError`` otherwise."""
        # bodies come from outside: parsed within bounds (depth, size, finite numbers only), so
        # a hostile body is a ValueError here, never a RecursionError or an OverflowError later
        data = parse_untrusted(self.body, max_bytes=MAX_BODY_BYTES)
        if not isinstance(data, dict) or set(data) != {"kind", "sender", "payload"}:
            raise ValueError("transaction body must hold exactly kind, sender and payload")
        return data

    def decoded(self) -> dict[str, Any]:
        data = self.envelope()
        if data["kind"] not in KINDS:
            raise ValueError(f"unknown transaction kind {data['kind']!r}")
        return data

    @property
    def kind(self) -> str:
        return str(self.decoded()["kind"])

    def leaf(self) -> bytes:
        """Merkle leaf: the transaction's full bytes, signature included."""
        return self.body + self.signature


def make_transaction(kind: str, sender: str, payload: dict[str, Any], key: KeyPair) -> Transaction:
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not allowed: choose one of {list(KINDS)}")
    body = canonical_bytes({"kind": kind, "sender": sender, "payload": payload})
    return Transaction(body, key.sign(body))
