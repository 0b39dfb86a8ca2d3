"""Keys, signatures, hashes and the canonical encoding, all through ``cryptography``.

Canonical encoding: UTF-8 JSON with sorted keys, no whitespace (``separators=(",", ":")``),
ASCII only; bytes are written as lowercase hex strings and floats with Python's shortest repr.
Every hash and signature in the chain is over these bytes, so the same content always gives the
same hash. Keys are Ed25519 (RFC 8032), derived from 32 bytes of the chain's seeded generator.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["KeyPair", "canonical_bytes", "load_public_key", "sha256_hex", "verify_signature"]


def canonical_bytes(obj: Any) -> bytes:
    """The one byte encoding of a JSON-like object (see module docstring)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class KeyPair:
    """An Ed25519 identity key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self.private = private
        self.public = private.public_key()
        self.public_bytes = self.public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def from_rng(cls, rng: np.random.Generator, secret: bytes | None = None) -> KeyPair:
        """A key from 32 bytes of ``rng``, mixed with ``secret`` when one is given.

        The bytes are drawn from ``rng`` either way, so the simulation's random stream (and with
        it every observation, reward and verdict) is the same with and without a secret. With a
        secret the key is HMAC-SHA256(secret, those bytes): whoever knows the seed but not the
        secret cannot rebuild it.
        """
        seeded = rng.bytes(32)
        material = seeded if secret is None else hmac.digest(secret, seeded, "sha256")
        return cls(Ed25519PrivateKey.from_private_bytes(material))

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def load_public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_signature(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True
