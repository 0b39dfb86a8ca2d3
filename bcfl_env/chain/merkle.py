"""Merkle trees as in RFC 6962 / RFC 9162 section 2.1.

Leaves are hashed as ``SHA-256(0x00 || leaf)`` and interior nodes as ``SHA-256(0x01 || left || right)``
(domain separation). A tree of n leaves splits at the largest power of two below n; an odd last
node is promoted, never duplicated (the duplication of Bitcoin's tree allows second-preimage
mutations, CVE-2012-2459).
"""

from __future__ import annotations

import hashlib

__all__ = ["inclusion_proof", "leaf_hash", "merkle_root", "node_hash", "verify_inclusion"]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root_of_hashes(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_root_of_hashes(hashes[:k]), _root_of_hashes(hashes[k:]))


def merkle_root(leaves: list[bytes]) -> bytes:
    """Merkle tree hash of the leaves (RFC 6962 MTH); SHA-256 of the empty string for none."""
    if not leaves:
        return EMPTY_ROOT
    return _root_of_hashes([leaf_hash(x) for x in leaves])


def inclusion_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """Audit path for leaf ``index`` (RFC 6962 PATH(m, D[n]))."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"index={index} is out of range: allowed [0, {len(leaves) - 1}]")

    def path(m: int, hashes: list[bytes]) -> list[bytes]:
        if len(hashes) == 1:
            return []
        k = _split(len(hashes))
        if m < k:
            return [*path(m, hashes[:k]), _root_of_hashes(hashes[k:])]
        return [*path(m - k, hashes[k:]), _root_of_hashes(hashes[:k])]

    return path(index, [leaf_hash(x) for x in leaves])


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2 inclusion verification."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
