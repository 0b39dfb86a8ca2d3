"""Blocks: a header (hash-linked, Merkle root over transactions) and a quorum certificate.

The header is canonical JSON of ``height, round, prev_hash, timestamp_s, proposer, merkle_root,
tx_count, committee, quorum`` (genesis adds ``ca_public_key``). The block hash is SHA-256 of the
header bytes, and the quorum certificate is the committee members' Ed25519 signatures over that
hash: a block counts only with at least ``quorum`` of them, and every signature present must be
valid. For n = 3f + 1 members the quorum is 2f + 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bcfl_env.chain.crypto import canonical_bytes, sha256_hex
from bcfl_env.chain.merkle import merkle_root
from bcfl_env.chain.transactions import Transaction
from bcfl_env.untrusted import parse_untrusted

__all__ = ["LEDGER_FORMAT", "Block", "make_header", "qc_digest", "quorum_size"]

# Format 2: every header after genesis records ``prev_qc``, the SHA-256 of the previous block's
# quorum certificate, and the signed head records ``head_qc``; so the record of who signed is
# bound into what later signatures cover, and removing one signature is detected. Genesis
# records the format; a ledger without it is format 1 (no such binding).
LEDGER_FORMAT = 2

ZERO_HASH = "0" * 64


def quorum_size(n: int) -> int:
    """PBFT's quorum, the default of ``Consensus.quorum``: the votes needed among n members so
    that f = (n - 1) // 3 faulty ones cannot decide alone, n - f."""
    return n - (n - 1) // 3


def make_header(
    height: int,
    round_: int,
    prev_hash: str,
    timestamp_s: float,
    proposer: str,
    transactions: list[Transaction],
    committee: list[str],
    extra: dict[str, Any] | None = None,
    *,
    quorum: int | None = None,
) -> bytes:
    """Canonical header bytes; ``quorum`` is the consensus's (default: PBFT's n - f)."""
    header = {
        "height": height,
        "round": round_,
        "prev_hash": prev_hash,
        "timestamp_s": round(float(timestamp_s), 6),
        "proposer": proposer,
        "merkle_root": merkle_root([tx.leaf() for tx in transactions]).hex(),
        "tx_count": len(transactions),
        "committee": list(committee),
        "quorum": quorum_size(len(committee)) if quorum is None else quorum,
        **(extra or {}),
    }
    return canonical_bytes(header)


@dataclass
class Block:
    header: bytes
    transactions: list[Transaction]
    qc: list[tuple[str, bytes]] = field(default_factory=list)  # (member, signature over block hash)

    @property
    def block_hash(self) -> str:
        return sha256_hex(self.header)

    def header_fields(self) -> dict[str, Any]:
        data = parse_untrusted(self.header)  # a stored header is data from a file
        if not isinstance(data, dict):
            raise ValueError("block header is not a JSON object")
        return data

    @property
    def height(self) -> int:
        return int(self.header_fields()["height"])

    def qc_bytes(self) -> bytes:
        return canonical_bytes([[member, sig.hex()] for member, sig in self.qc])

    @staticmethod
    def qc_from_bytes(raw: bytes) -> list[tuple[str, bytes]]:
        data = parse_untrusted(raw)
        if not isinstance(data, list):
            raise ValueError("a quorum certificate is a list of [member, signature]")
        qc = [(str(member), bytes.fromhex(sig)) for member, sig in data]
        # the certificate is not covered by the block hash, so only its canonical bytes count:
        # otherwise an upper-case hex digit or extra whitespace would change the file unseen
        if canonical_bytes([[m, s.hex()] for m, s in qc]) != raw:
            raise ValueError("the quorum certificate is not in canonical form")
        return qc


def qc_digest(block: Block) -> str:
    """SHA-256 of a block's quorum certificate in canonical form (what ``prev_qc`` records)."""
    return sha256_hex(block.qc_bytes())
