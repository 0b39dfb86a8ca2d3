"""Identities: the certificate authority and every participant, each signing only its own actions.

An :class:`Identity` holds one private key and exposes only ``sign`` and ``transaction``: the code
acting for a vehicle, an RSU or the MBS is handed that participant's identity and nothing else, so
no part of the chain signs for somebody else. :class:`Identities` is the registry the CA keeps:
it enrols (issues an X.509 certificate and a CA-signed ``enrol`` transaction), revokes and answers
whether a name may act in a role at a simulated time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bcfl_env.chain.ca import CertificateAuthority
from bcfl_env.chain.crypto import KeyPair, load_public_key
from bcfl_env.chain.errors import ChainError
from bcfl_env.chain.transactions import Transaction, make_transaction

__all__ = ["Identities", "Identity"]


class Identity:
    """One participant's name, role and private key."""

    def __init__(self, name: str, role: str, key: KeyPair) -> None:
        self.name = name
        self.role = role
        self._key = key

    @property
    def public_bytes(self) -> bytes:
        return self._key.public_bytes

    @property
    def key_pair(self) -> KeyPair:
        """The key, for the CA's certificate builder only (it needs the public half)."""
        return self._key

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def transaction(self, kind: str, payload: dict[str, Any]) -> Transaction:
        return make_transaction(kind, self.name, payload, self._key)


class Identities:
    """The CA and the participants it knows.

    Args:
        rng: the chain's generator; keys are drawn from it in creation order.
        validity_s: certificate validity [s of simulated time].
        key_secret: mixed into every key (see :meth:`KeyPair.from_rng`); None: keys follow ``rng``.
    """

    def __init__(
        self, rng: np.random.Generator, validity_s: float, key_secret: bytes | None = None
    ) -> None:
        self._rng = rng
        self._secret = key_secret
        self.ca = CertificateAuthority(rng, validity_s, key_secret)
        self.ca_identity = Identity("ca", "ca", self.ca.key)
        self._members: dict[str, Identity] = {}
        self._public: dict[str, Ed25519PublicKey] = {}
        # earliest expiry among the certificates; None: recompute (a certificate was issued,
        # renewed or revoked), so most rounds skip the scan over every certificate
        self._earliest_expiry: float | None = None

    def of(self, name: str, role: str = "vehicle") -> Identity:
        """The identity called ``name``, created with a fresh key on first use (a key alone, without
        a certificate, lets a stranger sign but never be accepted)."""
        identity = self._members.get(name)
        if identity is None:
            identity = self._members[name] = Identity(
                name, role, KeyPair.from_rng(self._rng, self._secret)
            )
        return identity

    def names(self) -> list[str]:
        return list(self._members)

    def enrol(self, name: str, role: str, now_s: float) -> Transaction:
        """Issue a certificate; returns the CA-signed ``enrol`` transaction."""
        identity = self.of(name, role)
        info = self.ca.issue(name, role, identity.key_pair, now_s)
        self._earliest_expiry = None
        payload = {"identity": name, "role": role, "cert": info.der.hex()}
        return self.ca_identity.transaction("enrol", payload)

    def renew_expiring(self, now_s: float, horizon_s: float) -> list[Transaction]:
        """Renew every unrevoked certificate that expires before ``now_s + horizon_s``; returns
        the CA-signed ``enrol`` transactions of the renewals."""
        if self._earliest_expiry is None:
            self._earliest_expiry = min(
                (i.not_after_s for i in self.ca.issued.values() if i.serial not in self.ca.revoked),
                default=float("inf"),
            )
        if self._earliest_expiry >= now_s + horizon_s:
            return []  # nothing expires within the horizon
        self._earliest_expiry = None
        txs = []
        for name, info in list(self.ca.issued.items()):
            if info.not_after_s < now_s + horizon_s and info.serial not in self.ca.revoked:
                renewed = self.ca.renew(name, self._members[name].key_pair, now_s)
                payload = {"identity": name, "role": renewed.role, "cert": renewed.der.hex()}
                txs.append(self.ca_identity.transaction("enrol", payload))
                self._public.pop(name, None)
        return txs

    def revoke(self, name: str, reason: str, now_s: float) -> Transaction:
        info = self.ca.revoke(name, now_s)
        self._earliest_expiry = None
        payload = {"identity": name, "serial": info.serial, "reason": reason}
        return self.ca_identity.transaction("revoke", payload)

    def status(self, name: str, role: str | tuple[str, ...], now_s: float) -> str | None:
        """Why ``name`` may not act as ``role`` at ``now_s`` (None when it may)."""
        return self.ca.status(name, role, now_s)

    def public_key(self, name: str) -> Ed25519PublicKey:
        """The public key in ``name``'s certificate."""
        key = self._public.get(name)
        if key is None:
            info = self.ca.issued.get(name)
            if info is None:
                raise ChainError(f"{name!r} holds no certificate")
            key = self._public[name] = load_public_key(info.public_key)
        return key
