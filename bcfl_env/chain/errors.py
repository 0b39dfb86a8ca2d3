"""Chain errors."""

from __future__ import annotations

__all__ = ["ChainError", "LedgerIntegrityError"]


class ChainError(Exception):
    """A request the chain cannot honour (bad argument, unknown identity)."""


class LedgerIntegrityError(Exception):
    """Verification found a stored block that does not check out.

    Attributes:
        height: the first bad block's height (None when the ledger itself is unreadable).
        what: what failed, naming what was expected and what was found.
    """

    def __init__(self, height: int | None, what: str) -> None:
        self.height = height
        self.what = what
        where = f"block {height}" if height is not None else "ledger"
        super().__init__(f"{where}: {what}")
