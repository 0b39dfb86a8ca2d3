"""The ledger: blocks, the model store and the CA's root certificate, with full re-verification."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bcfl_env.chain.block import ZERO_HASH, Block
from bcfl_env.chain.errors import LedgerIntegrityError
from bcfl_env.chain.storage import load_ledger, save_ledger
from bcfl_env.chain.store import ModelStore
from bcfl_env.chain.verify import LedgerVerifier, ModelRecompute, VerificationReport

__all__ = ["Ledger", "VerificationReport"]


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
        # the MBS's signed {height, head, time_s, signer, signature}; None before genesis
        self.signed_head: dict[str, Any] | None = None

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
    def verify(
        self, trusted_ca_key: bytes | None = None, recompute: ModelRecompute | None = None
    ) -> VerificationReport:
        """Re-check every block and re-execute every protocol rule (see :mod:`.verify`).

        Args:
            trusted_ca_key: pin the CA key learnt out of band; default: the ledger's own.
            recompute: recompute each global model from its base and inputs (the deep audit;
                ``bcfl_env.provenance.recompute_model`` on CPU).

        Raises:
            LedgerIntegrityError: naming the first bad block and what was expected and found.
        """
        if trusted_ca_key is not None and trusted_ca_key != self.ca_public_key:
            raise LedgerIntegrityError(None, "CA key differs from the trusted key")
        verifier = LedgerVerifier(
            self.blocks, self.models, self.ca_public_key, self.root_cert_der, recompute
        )
        report = verifier.run()
        verifier.check_signed_head(self.signed_head)
        return report

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
        """Write the ledger to an SQLite file (WAL; one atomic transaction per save)."""
        save_ledger(
            Path(path), self.ca_public_key, self.root_cert_der, self.blocks, self.models,
            self.signed_head,
        )  # fmt: skip

    @classmethod
    def load(cls, path: str | Path, verify: bool = False) -> Ledger:
        """Read a ledger written by :meth:`save`; ``verify=True`` re-checks it before returning.

        Raises:
            LedgerIntegrityError: the file is unreadable or (with ``verify``) fails verification.
        """
        stored = load_ledger(Path(path))
        if len(stored.ca_public_key) != 32:  # an Ed25519 key; the trust anchor of everything else
            raise LedgerIntegrityError(
                None, f"meta.ca_public_key is {len(stored.ca_public_key)} bytes, expected 32"
            )
        ledger = cls(stored.ca_public_key, stored.root_cert_der)
        ledger.blocks = stored.blocks
        ledger.models = stored.models
        ledger.signed_head = stored.signed_head
        if verify:
            ledger.verify()
        return ledger
