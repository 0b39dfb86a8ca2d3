"""Content-addressed model store: parameters live off-chain, their SHA-256 on-chain."""

from __future__ import annotations

from bcfl_env.chain.crypto import sha256_hex

__all__ = ["ModelStore"]


class ModelStore:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        self._blobs.setdefault(digest, bytes(data))
        return digest

    def put_raw(self, digest: str, data: bytes) -> None:
        """Store bytes under a digest as read from a file; :meth:`bad_entries` re-checks them."""
        self._blobs[digest] = data

    def get(self, digest: str) -> bytes:
        return self._blobs[digest]

    def __contains__(self, digest: object) -> bool:
        return digest in self._blobs

    def __len__(self) -> int:
        return len(self._blobs)

    def items(self) -> list[tuple[str, bytes]]:
        return list(self._blobs.items())

    def bad_entries(self) -> list[str]:
        """Digests whose stored bytes no longer hash to them."""
        return [d for d, blob in self._blobs.items() if sha256_hex(blob) != d]
