"""The ledger: blocks, the model store and the CA's root certificate, with full re-verification."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bcfl_env.chain.block import ZERO_HASH, Block, quorum_size
from bcfl_env.chain.ca import CertificateInfo, check_certificate, parse_certificate
from bcfl_env.chain.crypto import load_public_key, sha256_hex, verify_signature
from bcfl_env.chain.errors import LedgerIntegrityError
from bcfl_env.chain.merkle import merkle_root
from bcfl_env.chain.store import ModelStore

__all__ = ["Ledger", "VerificationReport"]

# Which roles may send which transaction kind ("leader" is the round's proposing RSU).
SENDER_ROLES: dict[str, tuple[str, ...]] = {
    "enrol": ("ca",),
    "revoke": ("ca",),
    "task": ("mbs",),
    "global_model": ("mbs",),
    "aggregation": ("mbs",),
    "update": ("vehicle",),
    "ballot": ("rsu", "vehicle"),
    "verdict": ("rsu", "vehicle", "mbs"),
    "evidence": ("rsu", "vehicle", "mbs"),
}


@dataclass
class VerificationReport:
    blocks: int = 0
    transactions: int = 0
    signatures: int = 0
    certificates: int = 0
    models: int = 0
    revocations: int = 0
    evidence: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class Ledger:
    """An append-only chain of blocks with its model store.

    Args:
        ca_public_key: raw Ed25519 public key of the certificate authority (the trust anchor).
        root_cert_der: the CA's self-signed root certificate.
    """

    def __init__(self, ca_public_key: bytes, root_cert_der: bytes) -> None:
        self.ca_public_key = ca_public_key
        self.root_cert_der = root_cert_der
        self.blocks: list[Block] = []
        self.models = ModelStore()

    # ------------------------------------------------------------------ building
    def append(self, block: Block) -> None:
        """Append a block the chain built and checked; :meth:`verify` re-checks everything."""
        self.blocks.append(block)

    @property
    def height(self) -> int:
        return len(self.blocks) - 1

    @property
    def head_hash(self) -> str:
        return self.blocks[-1].block_hash if self.blocks else ZERO_HASH

    def __len__(self) -> int:
        return len(self.blocks)

    # ------------------------------------------------------------------ verification
    def verify(self, trusted_ca_key: bytes | None = None) -> VerificationReport:
        """Re-check every hash link, Merkle root, signature, certificate, quorum certificate and model.

        Args:
            trusted_ca_key: pin the CA key learnt out of band; default: the ledger's own.

        Raises:
            LedgerIntegrityError: naming the first bad block and what was expected and found.
        """
        report = VerificationReport()
        ca_key = self.ca_public_key
        if trusted_ca_key is not None and trusted_ca_key != ca_key:
            raise LedgerIntegrityError(None, "CA key differs from the trusted key")
        try:
            root = parse_certificate(self.root_cert_der, ca_key)
        except ValueError as exc:
            raise LedgerIntegrityError(None, f"root certificate: {exc}") from exc
        if root.role != "ca" or root.public_key != ca_key:
            raise LedgerIntegrityError(None, "root certificate is not the CA's own")
        bad_models = self.models.bad_entries()
        if bad_models:
            raise LedgerIntegrityError(
                None, f"model store entry {bad_models[0][:16]}... does not hash to its key"
            )
        report.models = len(self.models)
        state = _VerifyState(ca_key=load_public_key(ca_key), root=root)
        prev_hash = ZERO_HASH
        prev_time = -1.0
        for height, block in enumerate(self.blocks):
            try:
                prev_hash, prev_time = self._verify_block(
                    block, height, prev_hash, prev_time, state, report
                )
            except LedgerIntegrityError:
                raise
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                raise LedgerIntegrityError(height, f"malformed content: {exc}") from exc
        report.blocks = len(self.blocks)
        report.certificates = len(state.certs)
        report.revocations = len(state.revoked)
        return report

    def _verify_block(
        self,
        block: Block,
        height: int,
        prev_hash: str,
        prev_time: float,
        st: _VerifyState,
        report: VerificationReport,
    ) -> tuple[str, float]:
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
        root = merkle_root([tx.leaf() for tx in block.transactions]).hex()
        if hdr.get("merkle_root") != root or hdr.get("tx_count") != len(block.transactions):
            raise LedgerIntegrityError(
                height,
                f"Merkle root: header says {str(hdr.get('merkle_root'))[:16]}..., transactions give {root[:16]}...",
            )
        block_hash = block.block_hash
        if height == 0 and hdr.get("ca_public_key") != self.ca_public_key.hex():
            raise LedgerIntegrityError(0, "genesis does not name the CA key")
        if height == 0 and hdr.get("root_cert_sha256") != sha256_hex(self.root_cert_der):
            raise LedgerIntegrityError(0, "root certificate differs from the one pinned in genesis")
        # Transactions first: genesis enrols the identities whose keys sign its quorum certificate.
        for index, tx in enumerate(block.transactions):
            self._verify_transaction(tx, index, height, timestamp, hdr, st, report)
        self._verify_qc(block, block_hash, hdr, height, timestamp, st, report)
        return block_hash, timestamp

    def _signer(
        self, sender: str, roles: tuple[str, ...], at_s: float, st: _VerifyState
    ) -> tuple[Ed25519PublicKey | None, str | None]:
        if sender == "ca":
            return (st.ca_key, None) if "ca" in roles else (None, "wrong_role")
        info = st.certs.get(sender)
        reason = check_certificate(info, roles, at_s, st.revoked)
        if reason is not None or info is None:
            return None, reason or "unknown_certificate"
        return st.public_key(info), None

    def _verify_qc(
        self,
        block: Block,
        block_hash: str,
        hdr: dict[str, Any],
        height: int,
        at_s: float,
        st: _VerifyState,
        report: VerificationReport,
    ) -> None:
        committee = list(hdr["committee"])
        if len(set(committee)) != len(committee) or not committee:
            raise LedgerIntegrityError(height, "committee is empty or lists a member twice")
        quorum = quorum_size(len(committee))
        if hdr.get("quorum") != quorum:
            raise LedgerIntegrityError(
                height,
                f"quorum: expected {quorum} for {len(committee)} members, found {hdr.get('quorum')}",
            )
        seen: set[str] = set()
        message = bytes.fromhex(block_hash)
        for member, sig in block.qc:
            if member not in committee or member in seen:
                raise LedgerIntegrityError(
                    height, f"quorum certificate: {member!r} is not a (new) committee member"
                )
            seen.add(member)
            roles = ("ca",) if height == 0 else ("rsu", "vehicle")
            key, why = self._signer(member, roles, at_s, st)
            if key is None:
                raise LedgerIntegrityError(
                    height, f"quorum certificate: {member!r} may not sign ({why})"
                )
            report.signatures += 1
            if not verify_signature(key, sig, message):
                raise LedgerIntegrityError(
                    height,
                    f"quorum certificate: {member!r}'s signature over {block_hash[:16]}... is invalid",
                )
        if len(seen) < quorum:
            raise LedgerIntegrityError(
                height, f"quorum certificate: {len(seen)} signatures, expected at least {quorum}"
            )

    def _verify_transaction(
        self,
        tx: Any,
        index: int,
        height: int,
        at_s: float,
        hdr: dict[str, Any],
        st: _VerifyState,
        report: VerificationReport,
    ) -> None:
        where = f"transaction {index}"
        data = tx.decoded()
        kind, sender, payload = data["kind"], data["sender"], data["payload"]
        key, why = self._signer(sender, SENDER_ROLES[kind], at_s, st)
        if key is None:
            raise LedgerIntegrityError(
                height, f"{where} ({kind} from {sender!r}): sender may not send it ({why})"
            )
        report.signatures += 1
        if not verify_signature(key, tx.signature, tx.body):
            raise LedgerIntegrityError(
                height, f"{where} ({kind} from {sender!r}): invalid signature"
            )
        tx_id = tx.tx_id
        if tx_id in st.seen:
            raise LedgerIntegrityError(height, f"{where}: replay of transaction {tx_id[:16]}...")
        st.seen.add(tx_id)
        report.transactions += 1
        report.kinds[kind] = report.kinds.get(kind, 0) + 1
        if kind == "enrol":
            try:
                info = parse_certificate(bytes.fromhex(payload["cert"]), self.ca_public_key)
            except ValueError as exc:
                raise LedgerIntegrityError(
                    height, f"{where}: certificate of {payload.get('identity')!r}: {exc}"
                ) from exc
            if info.identity != payload["identity"] or info.role != payload["role"]:
                raise LedgerIntegrityError(
                    height,
                    f"{where}: certificate names {info.identity!r}/{info.role!r}, payload {payload['identity']!r}/{payload['role']!r}",
                )
            st.certs[info.identity] = info
        elif kind == "revoke":
            st.revoked.setdefault(int(payload["serial"]), at_s)
        elif kind in ("update", "global_model", "aggregation"):
            digest = payload["params"] if kind == "update" else payload["model"]
            if digest not in self.models:
                raise LedgerIntegrityError(
                    height,
                    f"{where} ({kind}): model {str(digest)[:16]}... is missing from the model store",
                )
        elif kind == "ballot":
            if sender not in hdr["committee"]:
                raise LedgerIntegrityError(
                    height, f"{where}: ballot from {sender!r}, who is not on this block's committee"
                )
        elif kind == "evidence":
            self._verify_evidence(payload, height, where, at_s, st, report)
            report.evidence += 1

    def _verify_evidence(
        self,
        payload: dict[str, Any],
        height: int,
        where: str,
        at_s: float,
        st: _VerifyState,
        report: VerificationReport,
    ) -> None:
        member = payload["member"]
        info = st.certs.get(member)
        if info is None:
            raise LedgerIntegrityError(
                height, f"{where}: evidence against unknown member {member!r}"
            )
        headers = [bytes.fromhex(h) for h in payload["headers"]]
        sigs = [bytes.fromhex(s) for s in payload["signatures"]]
        heights = {json.loads(h)["height"] for h in headers}
        if len(headers) != 2 or headers[0] == headers[1] or len(heights) != 1:
            raise LedgerIntegrityError(
                height, f"{where}: evidence needs two different headers at one height"
            )
        key = st.public_key(info)
        for h, s in zip(headers, sigs, strict=True):
            report.signatures += 1
            if not verify_signature(key, s, bytes.fromhex(sha256_hex(h))):
                raise LedgerIntegrityError(
                    height, f"{where}: evidence signature of {member!r} is invalid"
                )

    # ------------------------------------------------------------------ queries
    def transactions(self, kind: str | None = None) -> list[tuple[int, dict[str, Any]]]:
        """(height, decoded transaction) for every transaction, optionally of one kind."""
        out = []
        for height, block in enumerate(self.blocks):
            for tx in block.transactions:
                data = tx.decoded()
                if kind is None or data["kind"] == kind:
                    out.append((height, {**data, "tx_id": tx.tx_id}))
        return out

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for _, tx in self.transactions():
            counts[tx["kind"]] = counts.get(tx["kind"], 0) + 1
        return {
            "height": self.height,
            "head": self.head_hash,
            "blocks": len(self.blocks),
            "transactions": counts,
            "models": len(self.models),
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the ledger to an SQLite file (WAL; one atomic transaction per block)."""
        from bcfl_env.chain.storage import save_ledger

        save_ledger(self, Path(path))

    @classmethod
    def load(cls, path: str | Path, verify: bool = False) -> Ledger:
        """Read a ledger written by :meth:`save`; ``verify=True`` re-checks it before returning.

        Raises:
            LedgerIntegrityError: the file is unreadable or (with ``verify``) fails verification.
        """
        from bcfl_env.chain.storage import load_ledger

        ledger = load_ledger(Path(path))
        if verify:
            ledger.verify()
        return ledger


class _VerifyState:
    def __init__(self, ca_key: Ed25519PublicKey, root: CertificateInfo) -> None:
        self.ca_key = ca_key
        self.root = root
        self.certs: dict[str, CertificateInfo] = {}
        self.revoked: dict[int, float] = {}
        self.seen: set[str] = set()
        self._keys: dict[bytes, Ed25519PublicKey] = {}

    def public_key(self, info: CertificateInfo) -> Ed25519PublicKey:
        key = self._keys.get(info.public_key)
        if key is None:
            key = self._keys[info.public_key] = load_public_key(info.public_key)
        return key
