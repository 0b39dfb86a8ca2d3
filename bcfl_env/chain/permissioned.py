"""The permissioned chain as the world uses it: enrolment, tasks, update screening, committee
verification, blocks with quorum certificates, equivocation evidence and revocation.

It takes what it needs from the rest of the world through narrow interfaces: a scoring function
(``ScoreFn``: update parameters -> each member's validation score) and the simulated time passed
into each call. It imports nothing from the network, FL engine or gymnasium.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcfl_env.chain.block import Block, make_header, quorum_size
from bcfl_env.chain.ca import CertificateAuthority
from bcfl_env.chain.committee import consensus_latency_s, decide, elect_committee, member_votes
from bcfl_env.chain.crypto import (
    KeyPair,
    load_public_key,
    sha256_hex,
    verify_signature,
)
from bcfl_env.chain.errors import ChainError
from bcfl_env.chain.ledger import Ledger
from bcfl_env.chain.reputation import Reputation
from bcfl_env.chain.transactions import Transaction, make_transaction
from bcfl_env.config import ChainConfig

__all__ = ["PermissionedChain", "RoundVerdict", "ScoreFn", "SealedBlock", "UpdateCandidate"]

# scores(members, candidates) -> (scores [n_members, n_candidates], baseline [n_members])
ScoreFn = Callable[[list[str], list["UpdateCandidate"]], tuple[np.ndarray, np.ndarray]]

MBS = "mbs"


@dataclass
class UpdateCandidate:
    """An update that passed screening, waiting for the committee's scores."""

    tx: Transaction
    sender: str
    payload: dict[str, Any]

    @property
    def params_hash(self) -> str:
        return str(self.payload["params"])


@dataclass
class RoundVerdict:
    committee: list[str]
    accepted: list[UpdateCandidate]
    rejected: list[tuple[str, str]]  # (sender, reason) for every update not accepted
    scores: np.ndarray  # (members, screened candidates)
    member_accept: np.ndarray


@dataclass
class SealedBlock:
    block: Block
    consensus_s: float
    conflicting: list[Block] = field(
        default_factory=list
    )  # equivocation: other blocks signed at this height

    @property
    def safety_violated(self) -> bool:
        """True when a conflicting block at the same height also carries a valid quorum."""
        return any(
            len(b.qc) >= quorum_size(len(b.header_fields()["committee"])) for b in self.conflicting
        )


class PermissionedChain:
    """Certificate authority, keys of every simulated identity, committee and ledger.

    Args:
        cfg: chain section of the config.
        rng: the world's ``chain`` generator (keys, election, faulty votes, PoW times).
        rsus: RSU identities (committee candidates).
        faulty: RSU identities that misbehave as ``cfg.faulty_behavior``.
    """

    def __init__(
        self,
        cfg: ChainConfig,
        rng: np.random.Generator,
        rsus: Sequence[str],
        faulty: Sequence[str] = (),
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.ca = CertificateAuthority(rng, cfg.cert_validity_s)
        self.ledger = Ledger(self.ca.public_key, self.ca.root.der)
        self.rsus = list(rsus)
        self.faulty = set(faulty)
        self.keys: dict[str, KeyPair] = {}
        self.reputation = Reputation()
        self.pending: list[Transaction] = []
        self.open_tasks: dict[
            str, tuple[int, str]
        ] = {}  # identity -> (task round, base model hash)
        self.seen: set[str] = set()
        self.published: dict[str, int] = {}  # global model hash -> version
        self._public_keys: dict[str, Any] = {}
        self._last_top: list[str] = []
        self._pending_evidence: list[tuple[str, list[Block]]] = []
        self.last_committee: list[str] = []

    # ------------------------------------------------------------------ identities
    def _key(self, identity: str) -> KeyPair:
        key = self.keys.get(identity)
        if key is None:
            key = self.keys[identity] = KeyPair.from_rng(self.rng)
        return key

    def enrol(self, identity: str, role: str, now_s: float) -> None:
        """Issue a certificate and queue its ``enrol`` transaction."""
        info = self.ca.issue(identity, role, self._key(identity), now_s)
        payload = {"identity": identity, "role": role, "cert": info.der.hex()}
        self.pending.append(make_transaction("enrol", "ca", payload, self.ca.key))

    def revoke(self, identity: str, reason: str, now_s: float) -> None:
        info = self.ca.revoke(identity, now_s)
        payload = {"identity": identity, "serial": info.serial, "reason": reason}
        self.pending.append(make_transaction("revoke", "ca", payload, self.ca.key))
        self.open_tasks.pop(identity, None)

    def genesis(self, vehicles: Sequence[str], initial_model: bytes, now_s: float = 0.0) -> Block:
        """Enrol the MBS, RSUs and vehicles, publish model version 0, and seal block 0 (CA-signed)."""
        if len(self.ledger):
            raise ChainError("genesis already sealed")
        self.enrol(MBS, "mbs", now_s)
        for rsu in self.rsus:
            self.enrol(rsu, "rsu", now_s)
        for vehicle in vehicles:
            self.enrol(vehicle, "vehicle", now_s)
        self.publish_model(0, 0, initial_model)
        txs, self.pending = self.pending, []
        extra = {
            "ca_public_key": self.ca.public_key.hex(),
            "root_cert_sha256": sha256_hex(self.ca.root.der),
        }
        header = make_header(0, 0, self.ledger.head_hash, now_s, "ca", txs, ["ca"], extra)
        block = Block(header, txs, [("ca", self.ca.key.sign(bytes.fromhex(sha256_hex(header))))])
        self.ledger.append(block)
        self.seen.update(tx.tx_id for tx in txs)
        return block

    # ------------------------------------------------------------------ MBS actions
    def publish_model(self, round_: int, version: int, params: bytes) -> str:
        digest = self.ledger.models.put(params)
        self.published[digest] = version
        payload = {"round": round_, "version": version, "model": digest}
        self.pending.append(make_transaction("global_model", MBS, payload, self._key(MBS)))
        return digest

    def assign_task(
        self, round_: int, base_model: str, selected: Sequence[str], now_s: float
    ) -> None:
        """The MBS's signed selection: only these identities may submit an update for ``round_``."""
        if base_model not in self.published:
            raise ChainError(f"base model {base_model[:16]}... was never published")
        for identity in selected:
            why = self.ca.status(identity, "vehicle", now_s)
            if why is not None:
                raise ChainError(f"cannot select {identity!r}: {why}")
            self.open_tasks[identity] = (round_, base_model)
        payload = {"round": round_, "base_model": base_model, "selected": list(selected)}
        self.pending.append(make_transaction("task", MBS, payload, self._key(MBS)))

    def cancel_task(self, identity: str) -> None:
        """The task of a vehicle that dropped out (handover, energy, departure) closes unfilled."""
        self.open_tasks.pop(identity, None)

    def record_aggregation(
        self, round_: int, version: int, params: bytes, inputs: list[tuple[str, float]]
    ) -> str:
        digest = self.ledger.models.put(params)
        self.published[digest] = version
        payload = {
            "round": round_,
            "version": version,
            "model": digest,
            "inputs": [[tx_id, round(float(w), 9)] for tx_id, w in inputs],
        }
        self.pending.append(make_transaction("aggregation", MBS, payload, self._key(MBS)))
        return digest

    # ------------------------------------------------------------------ vehicle side
    def sign_update(
        self,
        identity: str,
        task_round: int,
        base_model: str,
        params: bytes,
        samples: int,
        metrics: dict[str, float],
    ) -> Transaction:
        """What a vehicle submits: its parameters go to the model store, their hash on chain."""
        digest = self.ledger.models.put(params)
        payload = {
            "round": task_round,
            "base_model": base_model,
            "params": digest,
            "samples": int(samples),
            "metrics": {k: round(float(v), 6) for k, v in sorted(metrics.items())},
        }
        return make_transaction("update", identity, payload, self._key(identity))

    # ------------------------------------------------------------------ committee side
    def screen(self, tx: Transaction, now_s: float) -> tuple[UpdateCandidate | None, str, str]:
        """Check an update before scoring: (candidate or None, sender, rejection reason)."""
        try:
            data = tx.decoded()
        except ValueError:
            return None, "?", "malformed"
        sender, payload = str(data["sender"]), data["payload"]
        if data["kind"] != "update":
            return None, sender, "not_an_update"
        why = self.ca.status(sender, "vehicle", now_s)
        if why is not None:
            return None, sender, why
        if not verify_signature(self._public_key(sender), tx.signature, tx.body):
            return None, sender, "bad_signature"
        if tx.tx_id in self.seen:
            return None, sender, "replay"
        task = self.open_tasks.get(sender)
        if task is None:
            return None, sender, "not_selected"
        if payload.get("round") != task[0]:
            return None, sender, "wrong_round"
        if payload.get("base_model") != task[1]:
            return None, sender, "wrong_base_model"
        if payload.get("params") not in self.ledger.models:
            return None, sender, "missing_parameters"
        return UpdateCandidate(tx, sender, payload), sender, ""

    def _public_key(self, identity: str) -> Any:
        key = self._public_keys.get(identity)
        if key is None:
            key = self._public_keys[identity] = load_public_key(self.ca.issued[identity].public_key)
        return key

    def _flush_evidence(self, now_s: float, committee: list[str]) -> None:
        """Record equivocation evidence seen last round and revoke the liars before they act again."""
        if not self._pending_evidence:
            return
        reporter = self._leader(
            [m for m in committee if m not in {e[0] for e in self._pending_evidence}] or committee
        )
        for member, blocks in self._pending_evidence:
            headers = [b.header.hex() for b in blocks]
            sigs = [dict(b.qc)[member].hex() for b in blocks]
            height = blocks[0].header_fields()["height"]
            payload = {"member": member, "height": height, "headers": headers, "signatures": sigs}
            self.pending.append(
                make_transaction("evidence", reporter, payload, self._key(reporter))
            )
            if self.ca.status(member, ("rsu", "vehicle"), now_s) is None:
                self.revoke(member, "equivocation", now_s)
        self._pending_evidence = []

    def elect(self, round_: int, now_s: float) -> list[str]:
        self._flush_evidence(now_s, self.last_committee or self.rsus)
        eligible = [r for r in self.rsus if self.ca.status(r, "rsu", now_s) is None]
        size = min(self.cfg.committee_size, len(eligible))
        if size == 0:
            raise ChainError("no RSU holds a valid certificate: the committee cannot be formed")
        reps = np.array([self.reputation.score(r) for r in eligible])
        top = [t for t in self._last_top if self.ca.status(t, "vehicle", now_s) is None]
        return elect_committee(eligible, size, self.rng, self.cfg.election, reps, round_, top)

    def verify_updates(
        self, round_: int, txs: Sequence[Transaction], now_s: float, score_fn: ScoreFn
    ) -> RoundVerdict:
        """Screen, score and vote on this round's updates; queue ballots and the verdict.

        Every update ends accepted or rejected with a reason; nothing is dropped silently.
        """
        committee = self.elect(round_, now_s)
        self.last_committee = committee
        rejected: list[tuple[str, str]] = []
        rejected_records: list[list[Any]] = []
        candidates: list[UpdateCandidate] = []
        for tx in txs:
            cand, sender, why = self.screen(tx, now_s)
            if cand is None:
                rejected.append((sender, why))
                rejected_records.append([sha256_hex(tx.body + tx.signature), sender, why])
                continue
            self.seen.add(tx.tx_id)
            self.open_tasks.pop(sender, None)
            candidates.append(cand)
            self.pending.append(tx)
        behaviour = [self.cfg.faulty_behavior if m in self.faulty else None for m in committee]
        if candidates and not self.cfg.verify_quality:  # ablation: screening only, no scoring
            scores = np.ones((len(committee), len(candidates)))
            votes, reported = np.ones_like(scores, dtype=bool), scores
            accepted_mask = np.ones(len(candidates), dtype=bool)
            unusable = np.zeros(len(candidates), dtype=bool)
        elif candidates:
            scores, baseline = score_fn(committee, candidates)
            # NaN / inf: the update breaks the model (honest members cannot accept it)
            unusable = np.asarray(~np.isfinite(scores).all(axis=0), dtype=bool)
            scores = np.where(np.isfinite(scores), scores, -np.inf)
            votes, reported = member_votes(
                scores, baseline, self.cfg.score_margin, behaviour, self.rng
            )
            accepted_mask = decide(
                votes, reported, baseline, self.cfg.acceptance, self.cfg.score_margin
            )
        else:
            reported = votes = np.zeros((len(committee), 0))
            accepted_mask = np.zeros(0, dtype=bool)
            unusable = np.zeros(0, dtype=bool)
        for m, member in enumerate(committee):
            ballot = [
                [c.tx.tx_id, _ballot_score(reported[m, j]), bool(votes[m, j])]
                for j, c in enumerate(candidates)
            ]
            self.pending.append(
                make_transaction(
                    "ballot", member, {"round": round_, "votes": ballot}, self._key(member)
                )
            )
            agree = float((votes[m] == accepted_mask).mean()) if candidates else 1.0
            self.reputation.record(member, agree >= 0.5)
        accepted = []
        for j, cand in enumerate(candidates):
            self.reputation.record(cand.sender, bool(accepted_mask[j]))
            if accepted_mask[j]:
                accepted.append(cand)
            else:
                why = "non_finite_update" if unusable[j] else "low_quality"
                rejected.append((cand.sender, why))
                rejected_records.append([cand.tx.tx_id, cand.sender, why])
        for sender, why in rejected:
            if why not in ("low_quality", "non_finite_update") and sender in self.ca.issued:
                self.reputation.record(sender, False)
        if candidates:
            order = np.argsort(-np.nan_to_num(np.median(reported, axis=0)), kind="stable")
            self._last_top = [candidates[j].sender for j in order if accepted_mask[j]]
        leader = self._leader(committee)
        if rejected_records:
            payload = {"round": round_, "rejected": rejected_records}
            self.pending.append(make_transaction("verdict", leader, payload, self._key(leader)))
        return RoundVerdict(committee, accepted, rejected, reported, votes)

    def _leader(self, committee: list[str]) -> str:
        honest = [m for m in committee if m not in self.faulty]
        return (honest or committee)[0]

    # ------------------------------------------------------------------ blocks
    def seal_block(
        self, round_: int, now_s: float, committee: list[str] | None = None
    ) -> SealedBlock:
        """Pack pending transactions into a block signed by the committee (quorum certificate)."""
        committee = committee or self.last_committee or self.elect(round_, now_s)
        self._flush_evidence(now_s, committee)
        committee = [m for m in committee if self.ca.status(m, ("rsu", "vehicle"), now_s) is None]
        leader = self._leader(committee)
        txs, self.pending = self.pending, []
        height = len(self.ledger)
        header = make_header(height, round_, self.ledger.head_hash, now_s, leader, txs, committee)
        message = bytes.fromhex(sha256_hex(header))
        block = Block(header, txs, [(m, self._key(m).sign(message)) for m in committee])
        n_updates = sum(1 for tx in txs if b'"kind":"update"' in tx.body)
        block_bits = 8 * sum(len(tx.body) + len(tx.signature) for tx in txs) + 8 * len(header)
        latency = consensus_latency_s(self.cfg, len(committee), n_updates, block_bits, self.rng)
        conflicting = self._equivocate(block, height, round_, now_s, committee, txs)
        self.ledger.append(block)
        self.seen.update(tx.tx_id for tx in txs)
        return SealedBlock(block, latency, conflicting)

    def _equivocate(
        self,
        honest: Block,
        height: int,
        round_: int,
        now_s: float,
        committee: list[str],
        txs: list[Transaction],
    ) -> list[Block]:
        """Equivocating members also sign a conflicting block (the same minus its updates).

        The honest leader sees both signatures; the evidence and the liar's revocation go into
        the next block. The conflicting block only counts if the liars alone reach a quorum.
        """
        liars = [
            m for m in committee if m in self.faulty and self.cfg.faulty_behavior == "equivocate"
        ]
        if not liars:
            return []
        other_txs = [tx for tx in txs if b'"kind":"update"' not in tx.body]
        if len(other_txs) == len(txs):
            other_txs = other_txs[:-1]
        header = make_header(
            height, round_, self.ledger.head_hash, now_s, liars[0], other_txs, committee
        )
        message = bytes.fromhex(sha256_hex(header))
        other = Block(header, other_txs, [(m, self._key(m).sign(message)) for m in liars])
        for liar in liars:
            self._pending_evidence.append((liar, [honest, other]))
        return [other]

    def score_snapshot(self) -> dict[str, float]:
        return {identity: self.reputation.score(identity) for identity in self.keys}


def _ballot_score(score: float) -> float | None:
    """A reported score as stored in a ballot: 6 decimals, or null when not finite (JSON has no
    NaN or infinity, and the vote beside it already says reject)."""
    return round(float(score), 6) if np.isfinite(score) else None
