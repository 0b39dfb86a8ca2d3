"""A committee member: its own identity (the only key it signs with) and its behaviour."""

from __future__ import annotations

from dataclasses import dataclass

from bcfl_env.chain.crypto import sha256_hex
from bcfl_env.chain.faults import MemberBehaviour
from bcfl_env.chain.identity import Identity

__all__ = ["CommitteeMember"]


@dataclass
class CommitteeMember:
    identity: Identity
    behaviour: MemberBehaviour

    @property
    def name(self) -> str:
        return self.identity.name

    def sign_header(self, header: bytes) -> bytes:
        """A vote for a block: the member's signature over the block hash."""
        return self.identity.sign(bytes.fromhex(sha256_hex(header)))
