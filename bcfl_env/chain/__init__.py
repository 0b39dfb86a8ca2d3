"""Permissioned blockchain: CA, signed transactions, committee consensus, tamper-evident ledger.

Imports nothing from ``network``, ``fl`` or gymnasium.
"""

from bcfl_env.chain.block import Block, make_header, quorum_size
from bcfl_env.chain.ca import (
    CertificateAuthority,
    CertificateInfo,
    check_certificate,
    parse_certificate,
)
from bcfl_env.chain.committee import consensus_latency_s, decide, elect_committee, member_votes
from bcfl_env.chain.crypto import KeyPair, canonical_bytes, sha256_hex, verify_signature
from bcfl_env.chain.errors import ChainError, LedgerIntegrityError
from bcfl_env.chain.ledger import Ledger, VerificationReport
from bcfl_env.chain.merkle import (
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)
from bcfl_env.chain.permissioned import (
    PermissionedChain,
    RoundVerdict,
    ScoreFn,
    SealedBlock,
    UpdateCandidate,
)
from bcfl_env.chain.reputation import Reputation
from bcfl_env.chain.store import ModelStore
from bcfl_env.chain.transactions import Transaction, make_transaction

__all__ = [
    "Block",
    "CertificateAuthority",
    "CertificateInfo",
    "ChainError",
    "KeyPair",
    "Ledger",
    "LedgerIntegrityError",
    "ModelStore",
    "PermissionedChain",
    "Reputation",
    "RoundVerdict",
    "ScoreFn",
    "SealedBlock",
    "Transaction",
    "UpdateCandidate",
    "VerificationReport",
    "canonical_bytes",
    "check_certificate",
    "consensus_latency_s",
    "decide",
    "elect_committee",
    "inclusion_proof",
    "leaf_hash",
    "make_header",
    "make_transaction",
    "member_votes",
    "merkle_root",
    "node_hash",
    "parse_certificate",
    "quorum_size",
    "sha256_hex",
    "verify_inclusion",
    "verify_signature",
]
