"""The audit: re-check every block of a ledger and trust no one, the committee included.

Beyond hash links, Merkle roots, signatures, certificates and quorum certificates, the audit
re-executes every protocol rule from what the ledger itself records (the rules are pinned in the
genesis header):

* screening: an update comes from a vehicle the MBS's task selected, for that task's round and
  base model, once; its payload is well formed and its parameters are in the model store;
* voting: one ballot per committee member, citing only updates in its block, never judging the
  member's own update; the leader's verdict is exactly what the acceptance rule gives from the
  ballots, and every update in the block is accepted or rejected;
* consensus: the proposer and view follow the protocol's leader rotation, with every failed view
  recorded (:meth:`Consensus.check_block`); rounds move forward;
* provenance: each aggregation starts from the latest global model, consumes only updates that a
  certified block accepted, each at most once, with the weights the recorded rule gives from the
  recorded sample counts and staleness; with a ``recompute`` function (``bcfl audit --deep``) every
  global model is recomputed from its base and inputs and must hash to what was recorded;
* equivocation: evidence must carry two signed headers at one height, and two certified blocks at
  one height (a fork) fail verification.

Every failure is a :class:`LedgerIntegrityError` naming the block, the transaction and what was
expected versus found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bcfl_env.aggregation_rule import AggregationRule
from bcfl_env.chain.block import LEDGER_FORMAT, ZERO_HASH, Block, qc_digest
from bcfl_env.chain.ca import CertificateInfo, check_certificate, parse_certificate
from bcfl_env.chain.consensus import CONSENSUS, Consensus
from bcfl_env.chain.crypto import (
    canonical_bytes,
    load_public_key,
    sha256_hex,
    verify_signature,
)
from bcfl_env.chain.errors import LedgerIntegrityError
from bcfl_env.chain.merkle import merkle_root
from bcfl_env.chain.store import ModelStore
from bcfl_env.chain.tasks import MAX_UPDATE_BYTES, screen_update, update_payload_problem
from bcfl_env.chain.transactions import Transaction
from bcfl_env.chain.voting import ballot_problem, tally
from bcfl_env.config import AcceptanceRule, KeySource
from bcfl_env.untrusted import parse_untrusted

__all__ = ["SENDER_ROLES", "LedgerVerifier", "ModelRecompute", "VerificationReport"]

# (rule, base model bytes, input parameter bytes, samples, staleness) -> new model bytes
ModelRecompute = Callable[[AggregationRule, bytes, list[bytes], np.ndarray, np.ndarray], bytes]

# Which roles may send which transaction kind.
SENDER_ROLES: dict[str, tuple[str, ...]] = {
    "enrol": ("ca",),
    "revoke": ("ca",),
    "task": ("mbs",),
    "global_model": ("mbs",),
    "aggregation": ("mbs",),
    "update": ("vehicle",),
    "ballot": ("rsu", "vehicle"),
    "verdict": ("rsu", "vehicle"),
    "evidence": ("rsu", "vehicle", "mbs"),
    "view_change": ("rsu", "vehicle"),
    "dag_anchor": ("mbs",),
}
QUALITY_REASONS = frozenset({"low_quality", "non_finite_update"})
WEIGHT_TOLERANCE = 1e-6  # weights are recorded with 9 decimals


@dataclass
class VerificationReport:
    blocks: int = 0
    transactions: int = 0
    signatures: int = 0
    certificates: int = 0
    models: int = 0
    revocations: int = 0
    evidence: int = 0
    view_changes: int = 0
    updates_accepted: int = 0
    updates_rejected: int = 0
    aggregations: int = 0
    models_recomputed: int = 0
    refusals_rechecked: int = 0  # screened-out transactions screened again from their bytes
    key_source: str = "unlabelled"  # from genesis: "secret", "seed", or unlabelled (older ledgers)
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class _Update:
    height: int
    round: int
    sender: str
    samples: int
    base_model: str
    params: str
    status: str = "pending"  # accepted | rejected
    reason: str = ""
    consumed_at: int | None = None


@dataclass
class _Block:
    """What the audit learns while it walks one block's transactions."""

    height: int
    round: int
    committee: list[str]
    proposer: str
    updates: dict[str, _Update] = field(default_factory=dict)
    ballots: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdict: bool = False
    view_changes: list[dict[str, Any]] = field(default_factory=list)
    consumed: dict[str, tuple[int, str]] = field(default_factory=dict)  # tasks this block filled


class LedgerVerifier:
    """One audit of one ledger (see the module docstring)."""

    def __init__(
        self,
        blocks: list[Block],
        models: ModelStore,
        ca_public_key: bytes,
        root_cert_der: bytes,
        recompute: ModelRecompute | None = None,
    ) -> None:
        self.blocks = blocks
        self.models = models
        self.ca_public_key = ca_public_key
        self.root_cert_der = root_cert_der
        self.recompute = recompute
        self.report = VerificationReport()
        self.certs: dict[str, CertificateInfo] = {}
        self.revoked: dict[int, float] = {}
        self.seen: dict[str, int] = {}
        self.tasks: dict[str, tuple[int, str]] = {}
        self.updates: dict[str, _Update] = {}
        self.published: dict[str, int] = {}
        self.latest: tuple[int, str] | None = None
        self.conflict_signers: dict[bytes, set[str]] = {}
        self._keys: dict[bytes, Ed25519PublicKey] = {}
        self.ca_key = load_public_key(ca_public_key)
        self.rule: AggregationRule | None = None
        self.acceptance = "quorum"
        self.margin = 0.0
        self.consensus: Consensus | None = None
        self.ledger_format = 1
        self.dag_count = 0

    # ------------------------------------------------------------------ driver
    def run(self) -> VerificationReport:
        try:
            root = parse_certificate(self.root_cert_der, self.ca_public_key)
        except ValueError as exc:
            raise LedgerIntegrityError(None, f"root certificate: {exc}") from exc
        if root.role != "ca" or root.public_key != self.ca_public_key:
            raise LedgerIntegrityError(None, "root certificate is not the CA's own")
        bad_models = self.models.bad_entries()
        if bad_models:
            raise LedgerIntegrityError(
                None, f"model store entry {bad_models[0][:16]}... does not hash to its key"
            )
        if not self.blocks:
            raise LedgerIntegrityError(None, "the ledger holds no genesis block")
        self.report.models = len(self.models)
        prev_hash, prev_time, prev_round = ZERO_HASH, -1.0, -1
        for height, block in enumerate(self.blocks):
            try:
                prev_hash, prev_time, prev_round = self._block(
                    block, height, prev_hash, prev_time, prev_round
                )
            except LedgerIntegrityError:
                raise
            except (
                ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError,
                RecursionError,
            ) as exc:  # fmt: skip
                raise LedgerIntegrityError(height, f"malformed content: {exc!r}") from exc
        self.report.blocks = len(self.blocks)
        self.report.certificates = len(self.certs)
        self.report.revocations = len(self.revoked)
        return self.report

    def _block(
        self, block: Block, height: int, prev_hash: str, prev_time: float, prev_round: int
    ) -> tuple[str, float, int]:
        hdr = block.header_fields()
        if hdr.get("height") != height:
            raise LedgerIntegrityError(
                height, f"header height: expected {height}, found {hdr.get('height')}"
            )
        if hdr.get("prev_hash") != prev_hash:
            raise LedgerIntegrityError(
                height,
                f"prev_hash: expected {prev_hash[:16]}..., found {str(hdr.get('prev_hash'))[:16]}...",
            )
        timestamp = float(hdr["timestamp_s"])
        if timestamp < prev_time:
            raise LedgerIntegrityError(
                height, f"timestamp {timestamp} is before the previous block's {prev_time}"
            )
        round_ = hdr["round"]
        if not isinstance(round_, int) or (height > 0 and round_ <= prev_round):
            raise LedgerIntegrityError(
                height, f"round: expected a round after {prev_round}, found {round_!r}"
            )
        root = merkle_root([tx.leaf() for tx in block.transactions]).hex()
        if hdr.get("merkle_root") != root or hdr.get("tx_count") != len(block.transactions):
            raise LedgerIntegrityError(
                height,
                f"Merkle root: header says {str(hdr.get('merkle_root'))[:16]}..., transactions give {root[:16]}...",
            )
        if height == 0:
            self._genesis(hdr)
        elif "rules" in hdr:
            raise LedgerIntegrityError(height, "only genesis may set the rules")
        if height > 0 and self.ledger_format >= 2:
            expected_qc = qc_digest(self.blocks[height - 1])
            if hdr.get("prev_qc") != expected_qc:
                raise LedgerIntegrityError(
                    height,
                    f"prev_qc: the previous block's quorum certificate hashes to "
                    f"{expected_qc[:16]}..., this header records {str(hdr.get('prev_qc'))[:16]}... "
                    "(its signatures were changed)",
                )
        committee = list(hdr["committee"])
        state = _Block(height, round_, committee, str(hdr["proposer"]))
        # Transactions first: genesis enrols the identities whose keys sign its quorum certificate.
        for index, tx in enumerate(block.transactions):
            self._transaction(tx, index, timestamp, state)
        if height > 0:
            if state.updates and not state.verdict:
                raise LedgerIntegrityError(height, "the block holds updates but no verdict")
            assert self.consensus is not None
            why = self.consensus.check_block(hdr, height, state.view_changes)
            if why is not None:
                raise LedgerIntegrityError(height, f"consensus: {why}")
        self._quorum_certificate(block, hdr, height, timestamp)
        return block.block_hash, timestamp, round_

    def _genesis(self, hdr: dict[str, Any]) -> None:
        if hdr.get("ca_public_key") != self.ca_public_key.hex():
            raise LedgerIntegrityError(0, "genesis does not name the CA key")
        if hdr.get("root_cert_sha256") != sha256_hex(self.root_cert_der):
            raise LedgerIntegrityError(0, "root certificate differs from the one pinned in genesis")
        rules = hdr.get("rules")
        if not isinstance(rules, dict):
            raise LedgerIntegrityError(0, "genesis does not record the protocol rules")
        kind = rules.get("consensus")
        if kind not in CONSENSUS:
            raise LedgerIntegrityError(
                0, f"consensus: expected one of {sorted(CONSENSUS)}, found {kind!r}"
            )
        try:  # the protocol with the parameters this ledger was made with, not our defaults
            self.consensus = CONSENSUS[kind].from_record(rules.get("consensus_params", {}))
        except (ValueError, TypeError) as exc:
            raise LedgerIntegrityError(0, f"consensus parameters: {exc}") from exc
        if rules.get("acceptance") not in get_args(AcceptanceRule):
            raise LedgerIntegrityError(0, f"acceptance rule {rules.get('acceptance')!r} is unknown")
        self.acceptance = rules["acceptance"]
        self.margin = float(rules["score_margin"])
        source = rules.get("key_source", "unlabelled")
        if source not in (*get_args(KeySource), "unlabelled"):
            raise LedgerIntegrityError(0, f"key source {source!r} is unknown")
        self.report.key_source = source
        fmt = rules.get("ledger_format", 1)
        if fmt not in (1, LEDGER_FORMAT):
            raise LedgerIntegrityError(0, f"ledger format {fmt!r} is unknown")
        self.ledger_format = fmt
        try:
            self.rule = AggregationRule.from_record(rules["aggregation"])
        except (ValueError, TypeError) as exc:
            raise LedgerIntegrityError(0, f"aggregation rule: {exc}") from exc

    def check_signed_head(self, signed_head: Any) -> None:
        """The MBS's signed head must be valid and name this ledger's last block: a ledger cut
        short, or one whose head was removed, fails (rollback evidence, RFC 6962 section 3.5)."""
        if not isinstance(signed_head, dict):
            raise LedgerIntegrityError(
                None, "the ledger has no signed head (truncated or tampered)"
            )
        try:
            keys = ("height", "head", "time_s") + (("head_qc",) if self.ledger_format >= 2 else ())
            head = {k: signed_head[k] for k in keys}
            signer, signature = str(signed_head["signer"]), bytes.fromhex(signed_head["signature"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LedgerIntegrityError(None, f"signed head: malformed ({exc!r})") from exc
        key, why = self._signer(signer, ("mbs",), float(head["time_s"]))
        if key is None:
            raise LedgerIntegrityError(None, f"signed head: {signer!r} may not sign it ({why})")
        if not verify_signature(key, signature, canonical_bytes(head)):
            raise LedgerIntegrityError(None, "signed head: invalid signature")
        height = len(self.blocks) - 1
        if head["height"] != height or head["head"] != self.blocks[-1].block_hash:
            raise LedgerIntegrityError(
                None,
                f"signed head names height {head['height']} ({str(head['head'])[:16]}...), the "
                f"ledger ends at {height} ({self.blocks[-1].block_hash[:16]}...)",
            )
        if self.ledger_format >= 2 and head["head_qc"] != qc_digest(self.blocks[-1]):
            raise LedgerIntegrityError(
                None, "signed head: the head block's quorum certificate was changed"
            )

    # ------------------------------------------------------------------ signatures
    def public_key(self, info: CertificateInfo) -> Ed25519PublicKey:
        key = self._keys.get(info.public_key)
        if key is None:
            key = self._keys[info.public_key] = load_public_key(info.public_key)
        return key

    def _signer(
        self, sender: str, roles: tuple[str, ...], at_s: float
    ) -> tuple[Ed25519PublicKey | None, str | None]:
        if sender == "ca":
            return (self.ca_key, None) if "ca" in roles else (None, "wrong_role")
        info = self.certs.get(sender)
        reason = check_certificate(info, roles, at_s, self.revoked)
        if reason is not None or info is None:
            return None, reason or "unknown_certificate"
        return self.public_key(info), None

    def _quorum_certificate(
        self, block: Block, hdr: dict[str, Any], height: int, at_s: float
    ) -> None:
        committee = list(hdr["committee"])
        if len(set(committee)) != len(committee) or not committee:
            raise LedgerIntegrityError(height, "committee is empty or lists a member twice")
        assert self.consensus is not None  # genesis (height 0) sets it before any certificate
        quorum = 1 if height == 0 else self.consensus.quorum(len(committee))
        if hdr.get("quorum") != quorum:
            raise LedgerIntegrityError(
                height,
                f"quorum: expected {quorum} for {len(committee)} members, found {hdr.get('quorum')}",
            )
        seen: set[str] = set()
        message = bytes.fromhex(block.block_hash)
        roles = ("ca",) if height == 0 else ("rsu", "vehicle")
        for member, sig in block.qc:
            if member not in committee or member in seen:
                raise LedgerIntegrityError(
                    height, f"quorum certificate: {member!r} is not a (new) committee member"
                )
            seen.add(member)
            key, why = self._signer(member, roles, at_s)
            if key is None:
                raise LedgerIntegrityError(
                    height, f"quorum certificate: {member!r} may not sign ({why})"
                )
            self.report.signatures += 1
            if not verify_signature(key, sig, message):
                raise LedgerIntegrityError(
                    height,
                    f"quorum certificate: {member!r}'s signature over {block.block_hash[:16]}... is invalid",
                )
        if len(seen) < quorum:
            raise LedgerIntegrityError(
                height, f"quorum certificate: {len(seen)} signatures, expected at least {quorum}"
            )

    # ------------------------------------------------------------------ transactions
    def _transaction(self, tx: Any, index: int, at_s: float, blk: _Block) -> None:
        data = tx.decoded()
        kind, sender, payload = data["kind"], data["sender"], data["payload"]
        where = f"transaction {index} ({kind} from {sender!r})"
        key, why = self._signer(sender, SENDER_ROLES[kind], at_s)
        if key is None:
            raise LedgerIntegrityError(blk.height, f"{where}: sender may not send it ({why})")
        self.report.signatures += 1
        if not verify_signature(key, tx.signature, tx.body):
            raise LedgerIntegrityError(blk.height, f"{where}: invalid signature")
        tx_id = tx.tx_id
        if tx_id in self.seen:
            raise LedgerIntegrityError(
                blk.height,
                f"{where}: replay of transaction {tx_id[:16]}... (first in block {self.seen[tx_id]})",
            )
        self.seen[tx_id] = blk.height
        self.report.transactions += 1
        self.report.kinds[kind] = self.report.kinds.get(kind, 0) + 1
        handler = getattr(self, f"_tx_{kind}")
        problem = handler(tx_id, sender, payload, at_s, blk)
        if problem:
            raise LedgerIntegrityError(blk.height, f"{where}: {problem}")

    def _tx_enrol(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        try:
            info = parse_certificate(bytes.fromhex(p["cert"]), self.ca_public_key)
        except ValueError as exc:
            return f"certificate of {p.get('identity')!r}: {exc}"
        if info.identity != p["identity"] or info.role != p["role"]:
            return f"certificate names {info.identity!r}/{info.role!r}, payload {p['identity']!r}/{p['role']!r}"
        previous = self.certs.get(info.identity)
        if previous is not None:  # a renewal: same identity, role and key, never after revocation
            if previous.serial in self.revoked:
                return f"renews the certificate of {info.identity!r}, which was revoked"
            if (previous.role, previous.public_key) != (info.role, info.public_key):
                return f"renewal of {info.identity!r} changes its role or key"
        self.certs[info.identity] = info
        return ""

    def _tx_revoke(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        self.revoked.setdefault(int(p["serial"]), at_s)
        return ""

    def _publish(self, digest: Any, version: Any) -> str:
        if digest not in self.models:
            return f"model {str(digest)[:16]}... is missing from the model store"
        self.published[digest] = int(version)
        self.latest = (int(version), digest)
        return ""

    def _tx_global_model(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        if self.latest is not None:
            return "a global model is published only at genesis; later ones come from aggregations"
        return self._publish(p["model"], p["version"])

    def _tx_task(self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block) -> str:
        round_, base, selected = p["round"], p["base_model"], p["selected"]
        if not isinstance(round_, int) or round_ > blk.round:
            return f"task for round {round_!r} in a block of round {blk.round}"
        if base not in self.published:
            return f"task starts from model {str(base)[:16]}..., which was never published"
        if not isinstance(selected, list) or len(set(selected)) != len(selected):
            return "selected must list distinct identities"
        for name in selected:
            why = check_certificate(self.certs.get(name), "vehicle", at_s, self.revoked)
            if why is not None:
                return f"selects {name!r}, who may not train ({why})"
            if round_ == blk.round and name in blk.committee:
                return f"selects {name!r}, who serves on this round's committee"
        for name in selected:
            self.tasks[name] = (round_, base)
        return ""

    def _tx_update(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        problem = update_payload_problem(p)
        if problem:
            return f"malformed update: {problem}"
        task = self.tasks.get(sender)
        if task is None:
            return f"update from {sender!r}, whom no open task selected"
        if p["round"] != task[0]:
            return f"update for round {p['round']}, the sender's task is for round {task[0]}"
        if p["base_model"] != task[1]:
            return f"update starts from model {p['base_model'][:16]}..., the task names {task[1][:16]}..."
        if p["params"] not in self.models:
            return f"parameters {p['params'][:16]}... are missing from the model store"
        blk.consumed[sender] = self.tasks.pop(sender)
        record = _Update(blk.height, p["round"], sender, p["samples"], p["base_model"], p["params"])
        self.updates[tx_id] = blk.updates[tx_id] = record
        return ""

    def _tx_ballot(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        if sender not in blk.committee:
            return f"ballot from {sender!r}, who is not on this block's committee"
        if sender in blk.ballots:
            return f"a second ballot from {sender!r}"
        problem = ballot_problem(p)
        if problem:
            return f"malformed ballot: {problem}"
        if p["round"] != blk.round:
            return f"ballot for round {p['round']}, the block is round {blk.round}"
        for update_id, _score, accept in p["votes"]:
            update = blk.updates.get(update_id)
            if update is None:
                return f"ballot cites update {update_id[:16]}..., which is not in this block"
            if update.sender == sender and accept is not None:
                return f"member {sender!r} votes on its own update {update_id[:16]}..."
        blk.ballots[sender] = p
        return ""

    def _tx_verdict(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        if sender != blk.proposer:
            return f"verdict signed by {sender!r}, the block's proposer is {blk.proposer!r}"
        if blk.verdict:
            return "a second verdict"
        if p["round"] != blk.round:
            return f"verdict for round {p['round']}, the block is round {blk.round}"
        accepted = list(p["accepted"])
        for update_id in accepted:
            if update_id not in blk.updates:
                return (
                    f"verdict accepts update {str(update_id)[:16]}..., which is not in this block"
                )
        ids = list(blk.updates)
        assert self.consensus is not None
        quorum = self.consensus.quorum(len(blk.committee))
        expected = tally(blk.ballots, ids, quorum, self.acceptance, self.margin)
        if set(accepted) != set(expected):
            extra = sorted(set(accepted) - set(expected))
            missing = sorted(set(expected) - set(accepted))
            return (
                f"verdict disagrees with the ballots under the {self.acceptance!r} rule: "
                f"accepts {[u[:12] for u in extra]} without the votes, omits {[u[:12] for u in missing]}"
            )
        for record in p["rejected"]:
            if isinstance(record, list) and len(record) in (4, 5):
                problem = self._refusal(record, at_s, blk)
                if problem:
                    return problem
        reasons = {r[0]: r[2] for r in p["rejected"] if isinstance(r, list) and len(r) == 3}
        for update_id, update in blk.updates.items():
            if update_id in accepted:
                update.status = "accepted"
                self.report.updates_accepted += 1
            elif reasons.get(update_id) in QUALITY_REASONS:
                update.status, update.reason = "rejected", reasons[update_id]
                self.report.updates_rejected += 1
            else:
                return f"update {update_id[:16]}... is neither accepted nor rejected for quality"
        blk.verdict = True
        return ""

    def _refusal(self, record: list[Any], at_s: float, blk: _Block) -> str:
        """Screen a refused transaction again from its recorded bytes (ledger format 2): the
        claimed reason must be what screening gives, so a colluding committee cannot drop a
        valid update as, say, ``bad_signature``."""
        if self.ledger_format < 2:
            return "a refusal record with bytes in a format-1 ledger"
        tx_id, sender, claimed = record[0], record[1], record[2]
        if len(record) == 4:  # oversized: recorded by its length only (see refusal_record)
            if claimed != "oversized" or not isinstance(record[3], int):
                return f"refusal {str(tx_id)[:16]}... records a length without being oversized"
            return (
                ""
                if record[3] > MAX_UPDATE_BYTES
                else f"refusal {str(tx_id)[:16]}... claims oversized at {record[3]} bytes"
            )
        tx = Transaction(bytes.fromhex(record[3]), bytes.fromhex(record[4]))
        if tx.tx_id != tx_id:
            return f"refusal {str(tx_id)[:16]}...: its recorded bytes hash to {tx.tx_id[:16]}..."

        def status(name: str) -> str | None:
            return check_certificate(self.certs.get(name), "vehicle", at_s, self.revoked)

        def public_key(name: str) -> Any:
            info = self.certs[name]
            return self.public_key(info)

        found_sender, reason, _ = screen_update(
            tx, status, public_key, self.seen, lambda name: self.tasks.get(name), self.models.__contains__
        )  # fmt: skip
        if reason != claimed and claimed in ("not_selected", "wrong_round", "wrong_base_model"):
            # screening runs in arrival order: the task this block's accepted update filled may
            # still have been open when this one was screened (or closed, the other way round)
            _, reason, _ = screen_update(
                tx, status, public_key, self.seen,
                lambda name: self.tasks.get(name) or blk.consumed.get(name),
                self.models.__contains__,
            )  # fmt: skip
        if reason != claimed or found_sender != sender:
            return (
                f"the committee refused {str(tx_id)[:16]}... from {sender!r} as {claimed!r}; "
                f"screening its recorded bytes gives {reason or 'acceptance'!r} from {found_sender!r}"
            )
        self.report.refusals_rechecked += 1
        return ""

    def _tx_view_change(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        if not isinstance(p.get("view"), int) or not isinstance(p.get("round"), int):
            return "view change needs an integer round and view"
        if p["round"] > blk.round:
            return f"view change of round {p['round']} in a block of round {blk.round}"
        if p["round"] == blk.round and sender not in blk.committee:
            return f"view change recorded by {sender!r}, who is not on this block's committee"
        blk.view_changes.append(p)
        self.report.view_changes += 1
        return ""

    def _tx_aggregation(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        assert self.latest is not None and self.rule is not None
        version, base, inputs = p["version"], p["base_model"], p["inputs"]
        if not isinstance(inputs, list) or not inputs:
            return "aggregation lists no inputs"
        expected_version = self.latest[0] + self.rule.versions_advanced(len(inputs))
        if version != expected_version:
            return f"aggregation version: expected {expected_version}, found {version!r}"
        if base != self.latest[1]:
            return f"aggregation starts from {str(base)[:16]}..., the latest global model is {self.latest[1][:16]}..."
        records: list[_Update] = []
        for update_id, _weight in inputs:
            update = self.updates.get(update_id)
            if update is None:
                return f"aggregation cites update {str(update_id)[:16]}..., which no block holds"
            if update.status == "rejected":
                return f"aggregation consumes update {update_id[:16]}..., rejected as {update.reason} in block {update.height}"
            if update.status != "accepted":
                return f"aggregation consumes update {update_id[:16]}..., which no certified verdict accepted"
            if update.consumed_at is not None or update in records:
                first = update.consumed_at if update.consumed_at is not None else blk.height
                return f"update {update_id[:16]}... consumed twice (first by the aggregation in block {first})"
            records.append(update)
        samples = np.array([u.samples for u in records])
        staleness = self.rule.staleness(
            self.latest[0], np.array([self.published[u.base_model] for u in records])
        )
        expected = self.rule.weights(samples, staleness)
        for i, (update_id, weight) in enumerate(inputs):
            if (
                not isinstance(weight, int | float)
                or abs(float(weight) - expected[i]) > WEIGHT_TOLERANCE
            ):
                return f"weight of input {i} ({update_id[:16]}...): expected {expected[i]:.9f} from samples {samples[i]} and staleness {staleness[i]} under {self.rule.rule!r}, found {weight!r}"
        model = p["model"]
        if model not in self.models:
            return f"model {str(model)[:16]}... is missing from the model store"
        if self.recompute is not None:
            try:
                new = self.recompute(
                    self.rule, self.models.get(base), [self.models.get(u.params) for u in records],
                    samples, staleness,
                )  # fmt: skip
            except ValueError as exc:  # e.g. a model that is not finite
                return f"global model does not recompute: {exc}"
            digest = sha256_hex(new)
            if digest != model:
                return f"global model does not recompute: recorded {model[:16]}..., base and inputs give {digest[:16]}..."
            self.report.models_recomputed += 1
        for update in records:
            update.consumed_at = blk.height
        self.report.aggregations += 1
        return self._publish(model, version)

    def _tx_dag_anchor(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        """The MBS's attestation of the vehicles' DAG (``bcfl_env.chain.dag``): well formed, and
        each anchor covers at least as much of the DAG as the one before (the DAG only grows);
        ``Dag.verify`` checks the anchors against the DAG itself."""
        if not isinstance(p, dict) or set(p) != {"count", "root", "tips"}:
            return "a DAG anchor holds exactly count, root and tips"
        count, root, tips = p["count"], p["root"], p["tips"]
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            return "a DAG anchor's count is a positive integer"
        hexes = [root, *tips] if isinstance(tips, list) else None
        if not hexes or not all(isinstance(h, str) and len(h) == 64 for h in hexes):
            return "a DAG anchor's root and tips are SHA-256 hex digests"
        if count < self.dag_count:
            return f"the DAG anchor counts {count} transactions, an earlier one {self.dag_count}"
        self.dag_count = count
        return ""

    def _tx_evidence(
        self, tx_id: str, sender: str, p: dict[str, Any], at_s: float, blk: _Block
    ) -> str:
        member = p["member"]
        info = self.certs.get(member)
        if info is None:
            return f"evidence against unknown member {member!r}"
        headers = [bytes.fromhex(h) for h in p["headers"]]
        sigs = [bytes.fromhex(s) for s in p["signatures"]]
        parsed = [parse_untrusted(h) for h in headers]
        heights = {h["height"] for h in parsed}
        if len(headers) != 2 or headers[0] == headers[1] or len(heights) != 1:
            return "evidence needs two different headers at one height"
        key = self.public_key(info)
        for h, s in zip(headers, sigs, strict=True):
            self.report.signatures += 1
            if not verify_signature(key, s, bytes.fromhex(sha256_hex(h))):
                return f"evidence signature of {member!r} is invalid"
        self.report.evidence += 1
        at = heights.pop()
        if isinstance(at, int) and 0 <= at < len(self.blocks):
            for header, fields in zip(headers, parsed, strict=True):
                if header == self.blocks[at].header or member not in fields.get("committee", []):
                    continue
                signers = self.conflict_signers.setdefault(header, set())
                signers.add(member)
                assert self.consensus is not None
                if len(signers) >= self.consensus.quorum(len(fields["committee"])):
                    raise LedgerIntegrityError(
                        blk.height,
                        f"fork: two certified blocks at height {at} (block {self.blocks[at].block_hash[:16]}... "
                        f"and {sha256_hex(header)[:16]}..., signed by {sorted(signers)})",
                    )
        return ""
