"""The narrow interface the world uses to talk to a chain (any implementation of it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bcfl_env.chain.identity import Identities, Identity
from bcfl_env.chain.ledger import Ledger
from bcfl_env.chain.permissioned import RoundOutcome, ScoreFn
from bcfl_env.chain.reputation import Reputation
from bcfl_env.chain.transactions import Transaction

__all__ = ["ChainService"]


class ChainService(Protocol):
    """What the world asks of the chain: the MBS's and vehicles' actions, one committee round per
    epoch, and read-only views (the ledger, reputation, the next committee)."""

    ledger: Ledger
    identities: Identities  # the CA's view: certificates, status, public keys
    reputation: Reputation
    committee: list[str]  # elected for the next round
    faulty: frozenset[
        str
    ]  # the simulator's knowledge (rendering, reports); the protocol never reads it

    def genesis(
        self, vehicles: Sequence[str], initial_model: bytes, now_s: float = 0.0
    ) -> object: ...

    @property
    def published(self) -> dict[str, int]: ...

    def assign_task(
        self, round_: int, base_model: str, selected: Sequence[str], now_s: float
    ) -> None: ...

    def cancel_task(self, name: str) -> None: ...

    def identity(self, name: str) -> Identity: ...

    def anchor_dag(self, anchor: dict[str, Any]) -> None: ...

    def sign_update(
        self,
        name: str,
        task_round: int,
        base_model: str,
        params: bytes,
        samples: int,
        metrics: dict[str, float],
    ) -> Transaction: ...

    def run_round(
        self, round_: int, txs: Sequence[Transaction], now_s: float, score_fn: ScoreFn
    ) -> RoundOutcome: ...

    def record_aggregation(
        self, round_: int, version: int, params: bytes, inputs: list[tuple[str, float]]
    ) -> str: ...
