"""The vehicles' local DAG: signed model transactions that approve earlier ones.

The IoV system of the source survey (its reference [10], Lu et al., "Blockchain empowered
asynchronous federated learning for secure data sharing in Internet of Vehicles", IEEE TVT 2020)
runs a hybrid chain: the RSUs' permissioned chain records verification and aggregation, while the
vehicles keep a local DAG in which they publish trained models and verify and pull each other's
models asynchronously. This module is that DAG, as a tangle (Popov, "The Tangle", 2018):

* **Transactions.** A vehicle's ``dag_model`` transaction names its model (a SHA-256 digest of the
  parameters), the earlier transactions it approves and, for each, the approver's own check of
  it; body and signature are bytes as in the permissioned chain, and a transaction's id is the
  SHA-256 of both.
* **The first verification stage.** Before approving, a vehicle checks the transaction's
  signature, the sender's certificate at that time (issued by the chain's CA and not revoked) and
  a light quality score of the model (for example its accuracy on the approver's own data, which
  it holds anyway). A transaction that fails a check is not approved; the check is recorded in
  the approval, so approvals are evidence, and a model that nobody approves is never confirmed.
  The RSU committee's verification on the permissioned chain is the second stage.
* **Tip selection.** Each new transaction approves up to two tips chosen by weighted random walks
  (the tangle's MCMC rule, Popov 2018, section 4.1): start at genesis and step from ``x`` to one of
  its approvers ``y`` with probability proportional to ``exp(-alpha (H_x - H_y))``, ``H`` the
  cumulative weight, until a tip is reached. ``alpha = 0`` is a uniform walk; a larger ``alpha``
  keeps to the heavy, well-approved part of the DAG, so lazy or conflicting tips are left behind.
  The walk draws from the caller's generator: the same seed selects the same tips.
* **Confirmation.** A transaction's cumulative weight is one plus the number of transactions that
  approve it directly or indirectly; it is confirmed once that reaches ``confirm_weight``.
* **Anchors.** :meth:`Dag.anchor` summarises the DAG (count, Merkle root of the transaction ids in
  order, the tips); the permissioned chain records it in a certified block, and
  :meth:`Dag.verify` checks every anchor a ledger holds against the DAG.

Acyclicity holds by construction and is re-checked: a transaction may approve only transactions
that precede it, and no transaction may be added twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bcfl_env.chain.crypto import canonical_bytes, verify_signature
from bcfl_env.chain.errors import ChainError
from bcfl_env.chain.identity import Identity
from bcfl_env.chain.merkle import merkle_root
from bcfl_env.chain.transactions import Transaction

__all__ = [
    "DAG_KIND",
    "Dag",
    "DagIntegrityError",
    "DagTransaction",
    "SignerLookup",
    "signers_of",
]

DAG_KIND = "dag_model"
MAX_APPROVALS = 2

# (name, time) -> (public key, None) when ``name`` may sign as a vehicle then, else (None, why)
SignerLookup = Callable[[str, float], "tuple[Ed25519PublicKey | None, str | None]"]
QualityCheck = Callable[["DagTransaction"], float]


class DagIntegrityError(Exception):
    """A DAG transaction that does not check out.

    Attributes:
        index: position of the first bad transaction in the DAG (None: the DAG as a whole).
        what: what failed, naming what was expected and what was found.
    """

    def __init__(self, index: int | None, what: str) -> None:
        where = "DAG" if index is None else f"DAG transaction {index}"
        super().__init__(f"{where}: {what}")
        self.index, self.what = index, what


_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DagTransaction(Transaction):
    """A chain transaction's bytes and id, with the DAG's own body rules."""

    def decoded(self) -> dict[str, Any]:
        """The body as data; ``ValueError`` for anything but a well-formed model transaction."""
        data = self.envelope()
        if data["kind"] != DAG_KIND or not isinstance(data["sender"], str):
            raise ValueError(f"kind must be {DAG_KIND!r} with a sender name")
        p = data["payload"]
        if not isinstance(p, dict) or set(p) != {"model", "approves", "checks", "time_s"}:
            raise ValueError("payload holds exactly model, approves, checks and time_s")
        if not (isinstance(p["model"], str) and _HEX64.fullmatch(p["model"])):
            raise ValueError("model must be a SHA-256 hex digest")
        approves, checks = p["approves"], p["checks"]
        if not (isinstance(approves, list) and all(isinstance(a, str) for a in approves)):
            raise ValueError("approves must be a list of transaction ids")
        if len(approves) > MAX_APPROVALS or len(set(approves)) != len(approves):
            raise ValueError(f"at most {MAX_APPROVALS} distinct approvals")
        if not (isinstance(checks, list) and len(checks) == len(approves)):
            raise ValueError("one check per approval")
        for c in checks:
            if not (isinstance(c, dict) and set(c) == {"signature", "certificate", "score"}):
                raise ValueError("a check holds signature, certificate and score")
            if not isinstance(c["signature"], bool) or not isinstance(c["certificate"], bool):
                raise ValueError("signature and certificate checks are booleans")
            if not isinstance(c["score"], int | float) or isinstance(c["score"], bool):
                raise ValueError("a check's score is a number")
        if not isinstance(p["time_s"], int | float) or not math.isfinite(p["time_s"]):
            raise ValueError("time_s must be a finite number")
        return data


def signers_of(identities: Any) -> SignerLookup:
    """A :data:`SignerLookup` from the chain's :class:`~bcfl_env.chain.identity.Identities`:
    vehicles (who publish) and the MBS (who signs genesis)."""

    def lookup(name: str, at_s: float) -> tuple[Ed25519PublicKey | None, str | None]:
        why = identities.status(name, ("vehicle", "mbs"), at_s)
        return (None, why) if why is not None else (identities.public_key(name), None)

    return lookup


class Dag:
    """One DAG (see the module docstring).

    Args:
        genesis: the identity that signs the genesis transaction (the MBS); its model is the
            initial global model.
        genesis_model: digest of the initial model.
        alpha: tip-selection bias toward heavy transactions (0: uniform walk).
        confirm_weight: cumulative weight at which a transaction is confirmed.
        quality_floor: a check's score below this is a failed quality check.
    """

    def __init__(
        self,
        genesis: Identity,
        genesis_model: str,
        alpha: float = 0.5,
        confirm_weight: int = 3,
        quality_floor: float = 0.0,
        now_s: float = 0.0,
    ) -> None:
        if alpha < 0 or confirm_weight < 1:
            raise ValueError(f"alpha={alpha} must be >= 0 and confirm_weight={confirm_weight} >= 1")
        self.alpha, self.confirm_weight, self.quality_floor = alpha, confirm_weight, quality_floor
        self.genesis_signer = genesis.name
        self.txs: list[DagTransaction] = []
        self.index: dict[str, int] = {}
        self.approvers: dict[str, list[str]] = {}
        self._weights: dict[str, int] | None = None
        body = canonical_bytes(
            {"kind": DAG_KIND, "sender": genesis.name,
             "payload": {"model": genesis_model, "approves": [], "checks": [], "time_s": now_s}}
        )  # fmt: skip
        self._append(DagTransaction(body, genesis.sign(body)))

    # ------------------------------------------------------------------ structure
    @property
    def genesis_id(self) -> str:
        return self.txs[0].tx_id

    def tips(self) -> list[str]:
        """Transactions nobody approves yet, in DAG order."""
        return [tx.tx_id for tx in self.txs if not self.approvers[tx.tx_id]]

    def cumulative_weight(self, tx_id: str) -> int:
        """One plus the number of transactions approving ``tx_id`` directly or indirectly."""
        if self._weights is None:
            self._weights = self._all_weights()
        return self._weights[tx_id]

    def confirmed(self, tx_id: str) -> bool:
        return self.cumulative_weight(tx_id) >= self.confirm_weight

    def model_of(self, tx_id: str) -> str:
        return str(self.txs[self.index[tx_id]].decoded()["payload"]["model"])

    def _all_weights(self) -> dict[str, int]:
        # descendants as bit sets, newest first: a transaction's set is the union of its
        # approvers' sets plus the approvers themselves (n transactions, n-bit integers)
        below: dict[str, int] = {}
        for i in range(len(self.txs) - 1, -1, -1):
            tx_id = self.txs[i].tx_id
            bits = 0
            for a in self.approvers[tx_id]:
                bits |= below[a] | (1 << self.index[a])
            below[tx_id] = bits
        return {tx_id: 1 + bin(bits).count("1") for tx_id, bits in below.items()}

    # ------------------------------------------------------------------ tip selection
    def select_tips(self, rng: np.random.Generator, count: int = MAX_APPROVALS) -> list[str]:
        """Up to ``count`` distinct tips, each by a weighted random walk from genesis."""
        chosen: list[str] = []
        for _ in range(count * 3):  # a few more walks when two land on the same tip
            tip = self._walk(rng)
            if tip not in chosen:
                chosen.append(tip)
            if len(chosen) == count or len(chosen) == len(self.tips()):
                break
        return chosen

    def _walk(self, rng: np.random.Generator) -> str:
        here = self.genesis_id
        while self.approvers[here]:
            nxt = self.approvers[here]
            h = self.cumulative_weight(here)
            logits = np.array([-self.alpha * (h - self.cumulative_weight(y)) for y in nxt])
            p = np.exp(logits - logits.max())
            here = nxt[int(rng.choice(len(nxt), p=p / p.sum()))]
        return here

    # ------------------------------------------------------------------ publishing
    def check(
        self, tx_id: str, signers: SignerLookup, quality: QualityCheck
    ) -> dict[str, bool | float]:
        """The first verification stage, as an approver runs it on one transaction."""
        tx = self.txs[self.index[tx_id]]
        data = tx.decoded()
        at_s = float(data["payload"]["time_s"])
        if tx_id == self.genesis_id:  # the chain's published initial model: no quality to judge
            return {"signature": True, "certificate": True, "score": 0.0}
        key, why = signers(data["sender"], at_s)
        signature = key is not None and verify_signature(key, tx.signature, tx.body)
        return {
            "signature": bool(signature),
            "certificate": why is None,
            "score": float(quality(tx)),
        }

    def passes(self, check: dict[str, Any], tx_id: str | None = None) -> bool:
        """Whether a check lets its approver approve (genesis needs only the first two)."""
        trusted = check["signature"] and check["certificate"]
        return bool(trusted and (tx_id == self.genesis_id or check["score"] >= self.quality_floor))

    def publish(
        self,
        identity: Identity,
        model: str,
        now_s: float,
        rng: np.random.Generator,
        signers: SignerLookup,
        quality: QualityCheck,
    ) -> DagTransaction:
        """Select tips, check them, and add ``identity``'s signed model transaction approving the
        ones that pass (genesis when none does, so the DAG stays connected)."""
        return self.publish_concurrently([(identity, model, quality)], now_s, rng, signers)[0]

    def publish_concurrently(
        self,
        entries: Sequence[tuple[Identity, str, QualityCheck]],
        now_s: float,
        rng: np.random.Generator,
        signers: SignerLookup,
    ) -> list[DagTransaction]:
        """Vehicles publishing in the same epoch, each with its own quality check: each selects
        tips from the DAG as it stood at the epoch's start (none sees the others' transactions
        yet), then all are added. This is where a tangle's several tips come from."""
        txs = [self.prepare(i, m, now_s, rng, signers, q) for i, m, q in entries]
        for tx in txs:
            self.add(tx, signers)
        return txs

    def prepare(
        self,
        identity: Identity,
        model: str,
        now_s: float,
        rng: np.random.Generator,
        signers: SignerLookup,
        quality: QualityCheck,
    ) -> DagTransaction:
        """``identity``'s signed transaction for the DAG as it stands (not added)."""
        approves, checks = [], []
        for tip in self.select_tips(rng):
            result = self.check(tip, signers, quality)
            if self.passes(result, tip):
                approves.append(tip)
                checks.append(result)
        if not approves:
            approves = [self.genesis_id]
            checks = [self.check(self.genesis_id, signers, quality)]
        body = canonical_bytes(
            {"kind": DAG_KIND, "sender": identity.name,
             "payload": {"model": model, "approves": approves, "checks": checks, "time_s": now_s}}
        )  # fmt: skip
        return DagTransaction(body, identity.sign(body))

    def add(self, tx: DagTransaction, signers: SignerLookup) -> None:
        """Append a transaction received from another vehicle after the checks every node runs.

        Raises:
            ChainError: a malformed body, a bad signature, a sender without a valid vehicle
                certificate at its time, an approval of a missing or later transaction, a
                duplicate, or an approval its own check failed.
        """
        problem = self._problem(tx, len(self.txs), signers)
        if problem is not None:
            raise ChainError(f"DAG transaction refused: {problem}")
        self._append(tx)

    def _append(self, tx: DagTransaction) -> None:
        self.index[tx.tx_id] = len(self.txs)
        self.txs.append(tx)
        self.approvers[tx.tx_id] = []
        for parent in tx.decoded()["payload"]["approves"]:
            self.approvers[parent].append(tx.tx_id)
        self._weights = None

    def _problem(self, tx: DagTransaction, position: int, signers: SignerLookup) -> str | None:
        """Why ``tx`` may not stand at ``position`` given the transactions before it, or None."""
        try:
            data = tx.decoded()
        except (ValueError, TypeError) as exc:
            return f"malformed ({exc})"
        known = self.index.get(tx.tx_id)
        if known is not None and known < position:
            return "duplicate transaction"
        p, sender = data["payload"], data["sender"]
        if sender == self.genesis_signer:
            return f"{sender!r} signs genesis only; vehicles publish"
        key, why = signers(sender, float(p["time_s"]))
        if key is None:
            return f"sender {sender!r} may not publish ({why})"
        if not verify_signature(key, tx.signature, tx.body):
            return "invalid signature"
        if not p["approves"]:
            return "approves nothing"
        for parent, check in zip(p["approves"], p["checks"], strict=True):
            where = self.index.get(parent)
            if where is None or where >= position:
                return f"approves {parent[:16]}..., which does not precede it"
            parent_time = float(self.txs[where].decoded()["payload"]["time_s"])
            if parent_time > float(p["time_s"]):
                return "approves a transaction from its future"
            if not self.passes(check, parent):
                return f"approves {parent[:16]}... although its own check failed"
        return None

    # ------------------------------------------------------------------ anchors and audit
    def anchor(self) -> dict[str, Any]:
        """What the permissioned chain records to attest the DAG as it stands."""
        return {
            "count": len(self.txs),
            "root": merkle_root([bytes.fromhex(t.tx_id) for t in self.txs]).hex(),
            "tips": self.tips(),
        }

    def verify(
        self, signers: SignerLookup, anchors: Sequence[dict[str, Any]] = ()
    ) -> dict[str, int]:
        """Re-check the whole DAG from genesis, and every anchor against it.

        Signatures, certificates, references (only to earlier transactions, so no cycle),
        times, the approvals' recorded checks, ids unique; each anchor's count, Merkle root and
        tips must describe a prefix of this DAG.

        Raises:
            DagIntegrityError: naming the first bad transaction or anchor.
        """
        if not self.txs:
            raise DagIntegrityError(None, "no genesis transaction")
        replay = Dag.__new__(Dag)
        replay.alpha, replay.confirm_weight = self.alpha, self.confirm_weight
        replay.quality_floor, replay.genesis_signer = self.quality_floor, self.genesis_signer
        replay.txs, replay.index, replay.approvers, replay._weights = [], {}, {}, None
        genesis = self.txs[0]
        try:
            g = genesis.decoded()
        except ValueError as exc:
            raise DagIntegrityError(0, f"malformed genesis ({exc})") from exc
        if g["payload"]["approves"] or g["sender"] != self.genesis_signer:
            raise DagIntegrityError(0, "genesis must approve nothing and be the MBS's")
        key, why = signers(self.genesis_signer, float(g["payload"]["time_s"]))
        if key is None or not verify_signature(key, genesis.signature, genesis.body):
            raise DagIntegrityError(0, f"genesis signature does not verify ({why or 'invalid'})")
        replay._append(genesis)
        for i, tx in enumerate(self.txs[1:], start=1):
            problem = replay._problem(tx, i, signers)
            if problem is not None:
                raise DagIntegrityError(i, problem)
            replay._append(tx)
        self._check_acyclic()
        for n, anchor in enumerate(anchors):
            self._check_anchor(n, anchor)
        return {"transactions": len(self.txs), "anchors": len(anchors), "tips": len(self.tips())}

    def _check_acyclic(self) -> None:
        # every approval points to an earlier position: a cycle would need one pointing forward
        for i, tx in enumerate(self.txs):
            for parent in tx.decoded()["payload"]["approves"]:
                if self.index[parent] >= i:
                    raise DagIntegrityError(i, "approval points forward: the DAG has a cycle")

    def _check_anchor(self, n: int, anchor: dict[str, Any]) -> None:
        try:
            count, root, tips = int(anchor["count"]), str(anchor["root"]), list(anchor["tips"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DagIntegrityError(None, f"anchor {n} is malformed ({exc!r})") from exc
        if not 1 <= count <= len(self.txs):
            raise DagIntegrityError(
                None, f"anchor {n} names {count} transactions, DAG has {len(self.txs)}"
            )
        prefix = [bytes.fromhex(t.tx_id) for t in self.txs[:count]]
        if merkle_root(prefix).hex() != root:
            raise DagIntegrityError(
                None, f"anchor {n}: Merkle root differs from the DAG's first {count}"
            )
        ids = {t.tx_id for t in self.txs[:count]}
        if not set(tips) <= ids:
            raise DagIntegrityError(None, f"anchor {n} names a tip outside the DAG")
