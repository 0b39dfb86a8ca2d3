"""The permissioned chain as the world uses it, composed of parts with one job each.

* :mod:`~bcfl_env.chain.identity`: the CA and every participant's own key;
* :mod:`~bcfl_env.chain.tasks`: tasks, published models and screening;
* :mod:`~bcfl_env.chain.election`: who sits on the committee each round;
* :mod:`~bcfl_env.chain.faults`: what each member does (honest or faulty);
* :mod:`~bcfl_env.chain.voting`: ballots and the acceptance rule;
* :mod:`~bcfl_env.chain.consensus`: how a committee certifies a block;
* :mod:`~bcfl_env.chain.ledger`: the blocks, the model store and the audit.

One round (:meth:`PermissionedChain.run_round`): equivocation evidence from the last round is
recorded and the liars revoked; each update is screened; each member scores the survivors on its
own validation data and signs a ballot; the consensus protocol certifies a block whose verdict is
the acceptance rule applied to those ballots; the next round's committee is elected. The MBS
aggregates only what a certified block accepted, and its aggregation transaction goes into the
next block. The chain takes a scoring function (``ScoreFn``) and the simulated time from the world
and imports nothing from the network, the FL engine or gymnasium.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcfl_env.aggregation_rule import AggregationRule
from bcfl_env.chain.block import LEDGER_FORMAT, Block, make_header, qc_digest
from bcfl_env.chain.committee import CommitteeMember
from bcfl_env.chain.consensus import RoundContext, make_consensus
from bcfl_env.chain.crypto import canonical_bytes, sha256_hex
from bcfl_env.chain.election import make_election
from bcfl_env.chain.errors import ChainError
from bcfl_env.chain.faults import Honest, MemberBehaviour, make_behaviour
from bcfl_env.chain.identity import Identities, Identity
from bcfl_env.chain.ledger import Ledger
from bcfl_env.chain.reputation import Reputation
from bcfl_env.chain.tasks import TaskBook, UpdateCandidate, refusal_record
from bcfl_env.chain.transactions import Transaction
from bcfl_env.chain.voting import ballot_payload, tally
from bcfl_env.config import ChainConfig

__all__ = ["PermissionedChain", "RoundOutcome", "ScoreFn", "UpdateCandidate"]

# scores(members, candidates) -> (scores [n_members, n_candidates], baseline [n_members])
ScoreFn = Callable[[list[str], list[UpdateCandidate]], tuple[np.ndarray, np.ndarray]]

MBS = "mbs"
COMMITTEE_ROLES = ("rsu", "vehicle")


@dataclass
class RoundOutcome:
    """What one committee round decided."""

    committee: list[str]
    accepted: list[UpdateCandidate]
    rejected: list[tuple[str, str]]  # (sender, reason) for every update not accepted
    committed: bool  # False: no proposal reached a quorum (liveness lost this round)
    block: Block | None
    consensus_s: float
    view: int  # view that committed (0 without view changes)
    conflicting: list[Block] = field(default_factory=list)
    quorum: int = 1  # the consensus's quorum for this committee

    @property
    def safety_violated(self) -> bool:
        """True when a conflicting block at the same height also carries a quorum of signatures."""
        return any(len(b.qc) >= self.quorum for b in self.conflicting)


class PermissionedChain:
    """The chain's parts behind the narrow interface the world uses.

    Args:
        cfg: chain section of the config.
        rng: the world's ``chain`` generator (keys, election, faulty members' draws).
        rsus: RSU identities (committee candidates).
        faulty: identities that misbehave as ``cfg.faulty_behavior`` when they serve on a
            committee (RSUs, and in ``top_trainers`` mode possibly vehicles).
        aggregation: the MBS's aggregation rule, recorded in genesis for the audit.
        key_secret: with ``key_source="secret"``, the secret mixed into every key (default: 32
            fresh bytes of OS randomness); ignored with ``key_source="seed"``.
    """

    def __init__(
        self,
        cfg: ChainConfig,
        rng: np.random.Generator,
        rsus: Sequence[str],
        faulty: Sequence[str] = (),
        aggregation: AggregationRule | None = None,
        key_secret: bytes | None = None,
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        if cfg.key_source == "secret" and key_secret is None:
            key_secret = os.urandom(32)
        self.identities = Identities(
            rng, cfg.cert_validity_s, key_secret if cfg.key_source == "secret" else None
        )
        self.ca = self.identities.ca
        self.ledger = Ledger(self.ca.public_key, self.ca.root.der)
        self.tasks = TaskBook(self.ledger.models)
        self.rsus = list(rsus)
        self.faulty = frozenset(faulty)  # the simulator's knowledge, for rendering and reports
        self._behaviours: dict[str, MemberBehaviour] = {
            name: make_behaviour(cfg.faulty_behavior) for name in self.faulty
        }
        self.consensus = make_consensus(cfg)
        self.election = make_election(cfg.election)
        self.aggregation = aggregation or AggregationRule("fedasync")
        self.reputation = Reputation()
        self.pending: list[Transaction] = []
        self.committee: list[str] = []  # elected for the next round
        self.last_committee: list[str] = []
        self._top_trainers: list[str] = []
        self._evidence: list[tuple[str, list[Block]]] = []

    # ------------------------------------------------------------------ identities
    def identity(self, name: str) -> Identity:
        """The participant's own identity: what acts for it signs with this and nothing else."""
        return self.identities.of(name)

    def enrol(self, name: str, role: str, now_s: float) -> None:
        self.pending.append(self.identities.enrol(name, role, now_s))

    def revoke(self, name: str, reason: str, now_s: float) -> None:
        self.pending.append(self.identities.revoke(name, reason, now_s))
        self.tasks.cancel(name)

    def renew_certificates(self, now_s: float) -> None:
        """The CA renews certificates in their last quarter of validity (each renewal an
        ``enrol`` transaction), so any simulated-time budget runs."""
        self.pending += self.identities.renew_expiring(now_s, self.cfg.cert_validity_s / 4)

    def member(self, name: str) -> CommitteeMember:
        return CommitteeMember(self.identities.of(name), self._behaviours.get(name, Honest()))

    def genesis(self, vehicles: Sequence[str], initial_model: bytes, now_s: float = 0.0) -> Block:
        """Enrol the MBS, RSUs and vehicles, publish model version 0, seal block 0 (CA-signed) and
        elect the first committee. Genesis records the rules the audit re-checks."""
        if len(self.ledger):
            raise ChainError("genesis already sealed")
        self.enrol(MBS, "mbs", now_s)
        for rsu in self.rsus:
            self.enrol(rsu, "rsu", now_s)
        for vehicle in vehicles:
            self.enrol(vehicle, "vehicle", now_s)
        self.publish_model(0, 0, initial_model)
        txs, self.pending = self.pending, []
        rules: dict[str, Any] = {
            "consensus": self.cfg.consensus,
            "acceptance": self.cfg.acceptance,
            "score_margin": self.cfg.score_margin,
            "aggregation": self.aggregation.to_record(),
            "key_source": self.cfg.key_source,
            "ledger_format": LEDGER_FORMAT,
        }
        params = self.consensus.record()
        if params:  # only what differs from the protocol's defaults: a default genesis is unchanged
            rules["consensus_params"] = params
        extra = {
            "ca_public_key": self.ca.public_key.hex(),
            "root_cert_sha256": sha256_hex(self.ca.root.der),
            "rules": rules,
        }
        header = make_header(0, 0, self.ledger.head_hash, now_s, "ca", txs, ["ca"], extra)
        block = Block(
            header,
            txs,
            [("ca", self.identities.ca_identity.sign(bytes.fromhex(sha256_hex(header))))],
        )
        self.ledger.append(block)
        self._sign_head(now_s)
        self.tasks.seen.update(tx.tx_id for tx in txs)
        self.committee = self._elect(1, now_s)
        return block

    def _sign_head(self, now_s: float) -> None:
        """The MBS's signed head of the ledger (Certificate Transparency's signed tree head,
        RFC 6962 section 3.5): the audit rejects a ledger that ends before it."""
        head = {
            "height": self.ledger.height,
            "head": self.ledger.head_hash,
            # the head block's certificate is covered by no later header: the head covers it
            "head_qc": qc_digest(self.ledger.blocks[-1]),
            "time_s": round(now_s, 6),
        }
        signature = self.identity(MBS).sign(canonical_bytes(head))
        self.ledger.signed_head = {**head, "signer": MBS, "signature": signature.hex()}

    # ------------------------------------------------------------------ MBS actions
    def publish_model(self, round_: int, version: int, params: bytes) -> str:
        digest = self.ledger.models.put(params)
        self.tasks.publish(digest, version)
        payload = {"round": round_, "version": version, "model": digest}
        self.pending.append(self.identity(MBS).transaction("global_model", payload))
        return digest

    def assign_task(
        self, round_: int, base_model: str, selected: Sequence[str], now_s: float
    ) -> None:
        """The MBS's signed selection: only these identities may submit an update for ``round_``."""
        self.renew_certificates(now_s)
        for name in selected:
            why = self.identities.status(name, "vehicle", now_s)
            if why is not None:
                raise ChainError(f"cannot select {name!r}: {why}")
            if name in self.committee:
                raise ChainError(f"cannot select {name!r}: it serves on this round's committee")
        self.tasks.assign(round_, base_model, list(selected))
        payload = {"round": round_, "base_model": base_model, "selected": list(selected)}
        self.pending.append(self.identity(MBS).transaction("task", payload))

    def cancel_task(self, name: str) -> None:
        """The task of a vehicle that dropped out (handover, energy, departure) closes unfilled."""
        self.tasks.cancel(name)

    def record_aggregation(
        self, round_: int, version: int, params: bytes, inputs: list[tuple[str, float]]
    ) -> str:
        """The MBS's signed aggregation: the new model from the previous one and accepted updates."""
        step = self.aggregation.versions_advanced(len(inputs))
        if self.tasks.latest is None or version != self.tasks.latest[0] + step:
            raise ChainError(
                f"aggregation version {version} does not follow {self.tasks.latest} by {step}"
            )
        base = self.tasks.latest[1]
        digest = self.ledger.models.put(params)
        self.tasks.publish(digest, version)
        payload = {
            "round": round_,
            "version": version,
            "base_model": base,
            "model": digest,
            "inputs": [[tx_id, round(float(w), 9)] for tx_id, w in inputs],
        }
        self.pending.append(self.identity(MBS).transaction("aggregation", payload))
        return digest

    def anchor_dag(self, anchor: dict[str, Any]) -> None:
        """The MBS attests the vehicles' DAG (``Dag.anchor()``) in the next certified block."""
        self.pending.append(self.identity(MBS).transaction("dag_anchor", dict(anchor)))

    @property
    def published(self) -> dict[str, int]:
        return self.tasks.published

    # ------------------------------------------------------------------ vehicle side
    def sign_update(
        self,
        name: str,
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
        return self.identity(name).transaction("update", payload)

    # ------------------------------------------------------------------ committee
    def _elect(self, round_: int, now_s: float) -> list[str]:
        eligible = [r for r in self.rsus if self.identities.status(r, "rsu", now_s) is None]
        size = min(self.cfg.committee_size, len(eligible))
        if size == 0:
            raise ChainError("no RSU holds a valid certificate: the committee cannot be formed")
        top = [
            t
            for t in self._top_trainers
            if t not in self.tasks.open and self.identities.status(t, "vehicle", now_s) is None
        ]
        return self.election.elect(
            eligible, size, round_, self.reputation.score, self.rng, top_trainers=top
        )

    def _flush_evidence(self, now_s: float) -> None:
        """Record last round's equivocation evidence and revoke the liars before they act again."""
        liars = {member for member, _ in self._evidence}
        honest = [m for m in self.last_committee if m not in liars] or self.rsus
        reporter = self.identity(honest[0])
        for member, blocks in self._evidence:
            payload = {
                "member": member,
                "height": blocks[0].height,
                "headers": [b.header.hex() for b in blocks],
                "signatures": [dict(b.qc)[member].hex() for b in blocks],
            }
            self.pending.append(reporter.transaction("evidence", payload))
            if self.identities.status(member, COMMITTEE_ROLES, now_s) is None:
                self.revoke(member, "equivocation", now_s)
        self._evidence = []

    def run_round(
        self, round_: int, txs: Sequence[Transaction], now_s: float, score_fn: ScoreFn
    ) -> RoundOutcome:
        """Screen, score, ballot and certify this round's updates; elect the next committee.

        Every update ends accepted or rejected with a reason; nothing is dropped silently.
        """
        self.renew_certificates(now_s)
        self._flush_evidence(now_s)
        committee = self.committee
        if any(self.identities.status(m, COMMITTEE_ROLES, now_s) for m in committee):
            committee = self._elect(round_, now_s)  # a member lost its certificate: re-elect
        rejected: list[tuple[str, str]] = []
        records: list[list[Any]] = []
        candidates: list[UpdateCandidate] = []
        for tx in txs:
            cand, sender, why = self.tasks.screen(tx, now_s, self.identities)
            if cand is None:
                rejected.append((sender, why))
                records.append(refusal_record(tx, sender, why))
            else:
                self.tasks.close(cand)
                candidates.append(cand)
        members = {m: self.member(m) for m in committee}
        ballots, reports, unusable = self._ballots(round_, committee, members, candidates, score_fn)
        ids = [c.tx.tx_id for c in candidates]
        quorum = self.consensus.quorum(len(committee))
        expected = tuple(tally(reports, ids, quorum, self.cfg.acceptance, self.cfg.score_margin))
        ctx = RoundContext(
            round_, len(self.ledger), self.ledger.head_hash, now_s, list(committee), self.pending,
            [c.tx for c in candidates], {c.tx.tx_id: c.sender for c in candidates}, ballots,
            expected, records,
            {c.tx.tx_id: "non_finite_update" for c, bad in zip(candidates, unusable, strict=True) if bad},
            quorum, qc_digest(self.ledger.blocks[-1]),
        )  # fmt: skip
        result = self.consensus.certify(ctx, members, self.rng)
        self.last_committee = list(committee)
        accepted: list[UpdateCandidate] = []
        if result.block is None:
            # liveness lost: the updates are refused, everything else waits for the next block
            self.pending = [*self.pending, *result.view_changes]
            rejected += [(c.sender, "no_quorum") for c in candidates]
        else:
            self.pending = []
            self.ledger.append(result.block)
            self._sign_head(now_s)
            self.tasks.seen.update(tx.tx_id for tx in result.block.transactions)
            accepted = self._record_verdict(committee, reports, candidates, expected, rejected, ctx)
            for other in result.conflicting:
                for liar, _ in other.qc:
                    self._evidence.append((liar, [result.block, other]))
        for sender, why in rejected:
            if why in _SCREENING_FAULTS and sender in self.ca.issued:
                self.reputation.record(sender, False)
        self.committee = self._elect(round_ + 1, now_s)
        return RoundOutcome(
            list(committee), accepted, rejected, result.block is not None, result.block,
            result.latency_s, result.view, result.conflicting, quorum,
        )  # fmt: skip

    def _ballots(
        self,
        round_: int,
        committee: list[str],
        members: dict[str, CommitteeMember],
        candidates: list[UpdateCandidate],
        score_fn: ScoreFn,
    ) -> tuple[list[Transaction], dict[str, dict[str, Any]], np.ndarray]:
        """Each member scores the candidates on its own validation data and signs a ballot."""
        ids = [c.tx.tx_id for c in candidates]
        if candidates and self.cfg.verify_quality:
            scores, baseline = score_fn(committee, candidates)
        else:  # ablation (screening only) or nothing to judge
            scores = np.ones((len(committee), len(candidates)))
            baseline = np.zeros(len(committee))
        unusable = ~np.isfinite(scores).all(axis=0) if candidates else np.zeros(0, dtype=bool)
        scores = np.where(np.isfinite(scores), scores, -np.inf)
        txs, reports = [], {}
        for m, name in enumerate(committee):
            own = np.array([c.sender == name for c in candidates], dtype=bool)
            accept, reported = members[name].behaviour.vote(
                scores[m], float(baseline[m]), self.cfg.score_margin, own, self.rng
            )
            payload = ballot_payload(round_, float(baseline[m]), ids, accept, reported)
            txs.append(members[name].identity.transaction("ballot", payload))
            reports[name] = payload
        return txs, reports, np.asarray(unusable, dtype=bool)

    def _record_verdict(
        self,
        committee: list[str],
        reports: dict[str, dict[str, Any]],
        candidates: list[UpdateCandidate],
        expected: tuple[str, ...],
        rejected: list[tuple[str, str]],
        ctx: RoundContext,
    ) -> list[UpdateCandidate]:
        """Reputation for members (agreement with the verdict) and senders; the accepted list."""
        verdict = set(expected)
        for name in committee:
            votes = [v for v in reports[name]["votes"] if v[2] is not None]
            agree = [bool(v[2]) == (v[0] in verdict) for v in votes]
            self.reputation.record(name, float(np.mean(agree)) >= 0.5 if agree else True)
        accepted = []
        for cand in candidates:
            ok = cand.tx.tx_id in verdict
            self.reputation.record(cand.sender, ok)
            if ok:
                accepted.append(cand)
            else:
                rejected.append((cand.sender, ctx.quality_reason.get(cand.tx.tx_id, "low_quality")))
        if candidates:
            reported: dict[str, list[float]] = {u: [] for u in expected}
            for p in reports.values():
                for v in p["votes"]:
                    if v[0] in reported and v[1] is not None:
                        reported[v[0]].append(v[1])
            # statistics.median: the value np.median gives, without its overhead per update
            median = {u: statistics.median(s or [-math.inf]) for u, s in reported.items()}
            ranked = sorted(accepted, key=lambda c: -median[c.tx.tx_id])
            self._top_trainers = [c.sender for c in ranked]
        return accepted

    def score_snapshot(self) -> dict[str, float]:
        return {name: self.reputation.score(name) for name in self.identities.names()}


# Rejections that are the sender's fault (quality and liveness verdicts are recorded elsewhere).
_SCREENING_FAULTS = frozenset(
    {"malformed", "oversized", "not_an_update", "bad_signature", "replay", "not_selected",
     "wrong_round", "wrong_base_model", "missing_parameters", "unknown_certificate",
     "revoked_certificate", "expired_certificate", "wrong_role"}
)  # fmt: skip
