"""Tasks and screening: who may submit which update, and the checks before anyone scores it.

The MBS's signed ``task`` names the vehicles that may submit an update for a round and the global
model they start from. Screening is what every committee member checks before scoring; the audit
re-runs the same rules on the ledger. An update is data from an untrusted sender: every field is
type- and size-checked, and a hostile payload is rejected with a reason, never raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bcfl_env.chain.crypto import verify_signature
from bcfl_env.chain.errors import ChainError
from bcfl_env.chain.identity import Identities
from bcfl_env.chain.store import ModelStore
from bcfl_env.chain.transactions import Transaction

__all__ = ["MAX_UPDATE_BYTES", "TaskBook", "UpdateCandidate", "update_payload_problem"]

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
        if len(tx.body) > MAX_UPDATE_BYTES:
            return None, "?", "oversized"
        # The signer's name is inside the signed body, so the body is parsed first, within
        # bounds (bcfl_env.untrusted: never an exception); nothing in it is interpreted before
        # the sender's certificate and signature check out.
        try:
            data = tx.envelope()
        except ValueError:
            return None, "?", "malformed"
        sender, payload = data["sender"], data["payload"]
        if not isinstance(sender, str):
            return None, "?", "malformed"
        why = identities.status(sender, "vehicle", now_s)
        if why is not None:
            return None, sender, why
        if not verify_signature(identities.public_key(sender), tx.signature, tx.body):
            return None, sender, "bad_signature"
        if data["kind"] != "update":
            return None, sender, "not_an_update"
        if update_payload_problem(payload) is not None:
            return None, sender, "malformed"
        if tx.tx_id in self.seen:
            return None, sender, "replay"
        task = self.open.get(sender)
        if task is None:
            return None, sender, "not_selected"
        if payload["round"] != task[0]:
            return None, sender, "wrong_round"
        if payload["base_model"] != task[1]:
            return None, sender, "wrong_base_model"
        if payload["params"] not in self.models:
            return None, sender, "missing_parameters"
        return UpdateCandidate(tx, sender, payload), sender, ""
