"""Permissioned blockchain: CA, signed transactions, committee consensus, tamper-evident ledger.

Imports nothing from ``network``, ``fl`` or gymnasium. The parts and their seams are listed in
:mod:`bcfl_env.chain.permissioned`.
"""

from bcfl_env.chain.block import Block, make_header, quorum_size
from bcfl_env.chain.ca import (
    CertificateAuthority,
    CertificateInfo,
    check_certificate,
    parse_certificate,
)
from bcfl_env.chain.committee import CommitteeMember
from bcfl_env.chain.consensus import CONSENSUS, Consensus, RoundContext, make_consensus
from bcfl_env.chain.crypto import KeyPair, canonical_bytes, sha256_hex, verify_signature
from bcfl_env.chain.election import ELECTIONS, ElectionRule, make_election
from bcfl_env.chain.errors import ChainError, LedgerIntegrityError
from bcfl_env.chain.faults import BEHAVIOURS, MemberBehaviour, make_behaviour
from bcfl_env.chain.identity import Identities, Identity
from bcfl_env.chain.ledger import Ledger, VerificationReport
from bcfl_env.chain.merkle import (
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)
from bcfl_env.chain.permissioned import PermissionedChain, RoundOutcome, ScoreFn
from bcfl_env.chain.reputation import Reputation
from bcfl_env.chain.store import ModelStore
from bcfl_env.chain.tasks import TaskBook, UpdateCandidate
from bcfl_env.chain.transactions import Transaction, make_transaction
from bcfl_env.chain.verify import ModelRecompute

__all__ = [
    "BEHAVIOURS",
    "CONSENSUS",
    "ELECTIONS",
    "Block",
    "CertificateAuthority",
    "CertificateInfo",
    "ChainError",
    "CommitteeMember",
    "Consensus",
    "ElectionRule",
    "Identities",
    "Identity",
    "KeyPair",
    "Ledger",
    "LedgerIntegrityError",
    "MemberBehaviour",
    "ModelRecompute",
    "ModelStore",
    "PermissionedChain",
    "Reputation",
    "RoundContext",
    "RoundOutcome",
    "ScoreFn",
    "TaskBook",
    "Transaction",
    "UpdateCandidate",
    "VerificationReport",
    "canonical_bytes",
    "check_certificate",
    "inclusion_proof",
    "leaf_hash",
    "make_behaviour",
    "make_consensus",
    "make_election",
    "make_header",
    "make_transaction",
    "merkle_root",
    "node_hash",
    "parse_certificate",
    "quorum_size",
    "sha256_hex",
    "verify_inclusion",
    "verify_signature",
]
