"""Tasks and screening: who may submit which update, and the checks before anyone scores it.

The MBS's signed ``task`` names the vehicles that may submit an update for a round and the global
model they start from. Screening is what every committee member checks before scoring; the audit
re-runs the same rules on the ledger. An update is data from an untrusted sender: every field is
type- and size-checked, and a hostile payload is rejected with a reason, never raised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bcfl_env.chain.crypto import verify_signature
from bcfl_env.chain.errors import ChainError
from bcfl_env.chain.identity import Identities
from bcfl_env.chain.store import ModelStore
from bcfl_env.chain.transactions import Transaction

__all__ = [
    "MAX_UPDATE_BYTES",
    "TaskBook",
    "UpdateCandidate",
    "refusal_record",
    "screen_update",
    "update_payload_problem",
]

MAX_UPDATE_BYTES = 4096  # an update's body holds hashes and a few metrics, never parameters
_HEX64 = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class UpdateCandidate:
    """An update that passed screening, waiting for the committee's scores."""

    tx: Transaction
    sender: str
    payload: dict[str, Any]

    @property
    def params_hash(self) -> str:
        return str(self.payload["params"])


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX64


def update_payload_problem(payload: Any) -> str | None:
    """Why an update payload is malformed, or None (shared by screening and the audit)."""
    if not isinstance(payload, dict):
        return "payload is not an object"
    expected = {"round", "base_model", "params", "samples", "metrics"}
    if set(payload) != expected:
        return f"payload keys {sorted(payload)}, expected {sorted(expected)}"
    if not isinstance(payload["round"], int) or isinstance(payload["round"], bool):
        return "round is not an integer"
    if not _is_digest(payload["base_model"]) or not _is_digest(payload["params"]):
        return "base_model and params must be SHA-256 hex digests"
    samples = payload["samples"]
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        return "samples is not a positive integer"
    metrics = payload["metrics"]
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        and math.isfinite(v) for k, v in metrics.items()
    ):  # fmt: skip
        return "metrics must map names to finite numbers"
    return None


def refusal_record(tx: Transaction, sender: str, why: str) -> list[Any]:
    """What the block records of a transaction screening refused (ledger format 2): its id,
    claimed sender and reason, and its bytes, so the audit can screen it again and catch a
    committee that refused a valid update under a false reason. An oversized body is recorded
    by its length only (storing it would let anyone bloat the ledger)."""
    if why == "oversized":
        return [tx.tx_id, sender, why, len(tx.body)]
    return [tx.tx_id, sender, why, tx.body.hex(), tx.signature.hex()]


class TaskBook:
    """Open tasks, published global models and the ids of transactions already on chain."""

    def __init__(self, models: ModelStore) -> None:
        self.models = models
        self.open: dict[str, tuple[int, str]] = {}  # identity -> (task round, base model hash)
        self.seen: set[str] = set()
        self.published: dict[str, int] = {}  # global model hash -> version
        self.latest: tuple[int, str] | None = None  # (version, hash) of the newest global model

    def publish(self, digest: str, version: int) -> None:
        self.published[digest] = version
        self.latest = (version, digest)

    def assign(self, round_: int, base_model: str, selected: list[str]) -> None:
        if base_model not in self.published:
            raise ChainError(f"base model {base_model[:16]}... was never published")
        for identity in selected:
            self.open[identity] = (round_, base_model)

    def cancel(self, identity: str) -> None:
        self.open.pop(identity, None)

    def close(self, candidate: UpdateCandidate) -> None:
        """The update's task is filled: its id may not appear again, nor a second update."""
        self.seen.add(candidate.tx.tx_id)
        self.open.pop(candidate.sender, None)

    def screen(
        self, tx: Transaction, now_s: float, identities: Identities
    ) -> tuple[UpdateCandidate | None, str, str]:
        """(candidate or None, sender, rejection reason) for one submitted update."""
        sender, why, payload = screen_update(
            tx,
            lambda name: identities.status(name, "vehicle", now_s),
            identities.public_key,
            self.seen,
            self.open.get,
            self.models.__contains__,
        )
        if why:
            return None, sender, why
        return UpdateCandidate(tx, sender, payload), sender, ""


def screen_update(
    tx: Transaction,
    status: Callable[[str], str | None],
    public_key: Callable[[str], Ed25519PublicKey],
    seen: Container[str],
    task_of: Callable[[str], tuple[int, str] | None],
    has_model: Callable[[str], bool],
) -> tuple[str, str, Any]:
    """Screen one submitted update: ``(sender or "?", reason or "", payload)``. The one rule that
    the committee applies and the audit re-applies to every refusal a block records.

    The signer's name is inside the signed body, so the body is parsed first, within bounds
    (:mod:`bcfl_env.untrusted`: never an exception); nothing in it is interpreted before the
    sender's certificate (``status``) and signature check out.
    """
    if len(tx.body) > MAX_UPDATE_BYTES:
        return "?", "oversized", None
    try:
        data = tx.envelope()
    except ValueError:
        return "?", "malformed", None
    sender, payload = data["sender"], data["payload"]
    if not isinstance(sender, str):
        return "?", "malformed", None
    why = status(sender)
    if why is not None:
        return sender, why, None
    if not verify_signature(public_key(sender), tx.signature, tx.body):
        return sender, "bad_signature", None
    if data["kind"] != "update":
        return sender, "not_an_update", None
    if update_payload_problem(payload) is not None:
        return sender, "malformed", None
    if tx.tx_id in seen:
        return sender, "replay", None
    task = task_of(sender)
    if task is None:
        return sender, "not_selected", None
    if payload["round"] != task[0]:
        return sender, "wrong_round", None
    if payload["base_model"] != task[1]:
        return sender, "wrong_base_model", None
    if not has_model(payload["params"]):
        return sender, "missing_parameters", None
    return sender, "", payload
