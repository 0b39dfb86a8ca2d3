"""The consensus seam: how a committee turns a round's ballots into a certified block.

A :class:`Consensus` class is found by name in :data:`CONSENSUS` (the config's ``ConsensusKind``
and any kind registered later). It owns its quorum rule (:meth:`Consensus.quorum`: how many
signatures certify a block, and how many accept votes accept an update under the ``quorum``
acceptance rule) and names the config fields it reads (``parameters``); genesis records the
values that differ from the defaults, and the audit rebuilds the protocol from that record
(:meth:`Consensus.from_record`), never from its own defaults. The chain hands it a :class:`RoundContext` (what every member saw: carried
transactions, screened updates, signed ballots and the verdict the acceptance rule gives) and the
members; it returns a :class:`CommitResult`. The audit asks the same class to re-check a stored
header (:meth:`Consensus.check_block`), so a protocol's rules live in one module.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from bcfl_env.chain.block import Block, make_header, quorum_size
from bcfl_env.chain.committee import CommitteeMember
from bcfl_env.chain.transactions import Transaction
from bcfl_env.config import ChainConfig, ConsensusKind, allow_choice, disallow_choice

__all__ = [
    "CONSENSUS",
    "CommitResult",
    "Consensus",
    "RoundContext",
    "build_block",
    "make_consensus",
    "register_consensus",
    "unregister_consensus",
]


@dataclass
class RoundContext:
    """Everything the members of one round's committee saw before the leader proposes."""

    round: int
    height: int
    prev_hash: str
    now_s: float
    committee: list[str]
    carried: list[
        Transaction
    ]  # transactions waiting since the last block (tasks, aggregation, ...)
    updates: list[Transaction]  # screened updates, in arrival order
    senders: dict[str, str]  # update id -> sender
    ballots: list[Transaction]  # one signed ballot per member, committee order
    expected: tuple[str, ...]  # update ids the acceptance rule gives from the ballots
    rejected_records: list[list[Any]] = field(
        default_factory=list
    )  # screened out: [id, sender, why]
    quality_reason: dict[str, str] = field(
        default_factory=dict
    )  # update id -> reason if not accepted
    quorum: int = 0  # signatures that certify a block (Consensus.quorum); 0: PBFT's default
    prev_qc: str = ""  # SHA-256 of the previous block's quorum certificate (ledger format 2)

    @property
    def update_ids(self) -> list[str]:
        return [tx.tx_id for tx in self.updates]


@dataclass
class CommitResult:
    block: Block | None  # None: no proposal reached a quorum in any view (liveness lost)
    view: int  # the view that committed, or the number of views tried
    latency_s: float
    view_changes: list[Transaction]  # records of the failed views (in the block when committed)
    conflicting: list[Block] = field(default_factory=list)  # blocks equivocators also signed


def build_block(
    ctx: RoundContext,
    leader: CommitteeMember,
    view: int,
    accepted: tuple[str, ...],
    view_changes: Sequence[Transaction],
    with_updates: bool = True,
) -> Block:
    """The leader's proposal: carried transactions, view-change records, updates, ballots and
    its signed verdict, under a header naming the view (no quorum certificate yet)."""
    txs = [*ctx.carried, *view_changes]
    if with_updates and (ctx.updates or ctx.rejected_records):
        rejected = list(ctx.rejected_records) + [
            [u, ctx.senders[u], ctx.quality_reason.get(u, "low_quality")]
            for u in ctx.update_ids
            if u not in accepted
        ]
        payload = {"round": ctx.round, "accepted": list(accepted), "rejected": rejected}
        txs += [*ctx.updates, *ctx.ballots, leader.identity.transaction("verdict", payload)]
    header = make_header(
        ctx.height, ctx.round, ctx.prev_hash, ctx.now_s, leader.name, txs, ctx.committee,
        {"view": view, **({"prev_qc": ctx.prev_qc} if ctx.prev_qc else {})},
        quorum=ctx.quorum or None,
    )  # fmt: skip
    return Block(header, txs)


class Consensus(ABC):
    """One block-agreement protocol (see the module docstring)."""

    kind: ClassVar[str]
    # the ChainConfig fields this protocol reads; genesis records those that differ from defaults
    parameters: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: ChainConfig) -> None:
        self.cfg = cfg

    def quorum(self, committee_size: int) -> int:
        """Signatures that certify a block of ``committee_size`` members (and accept votes that
        accept an update under the ``quorum`` rule). Default: PBFT's n - f with the most faulty
        members n = 3f + 1 allows (2f + 1 for n = 3f + 1)."""
        return quorum_size(committee_size)

    def record(self) -> dict[str, Any]:
        """The parameters genesis records: those of :attr:`parameters` that differ from the
        config's defaults (a default ledger's genesis is unchanged)."""
        defaults = ChainConfig()
        return {
            name: getattr(self.cfg, name)
            for name in self.parameters
            if getattr(self.cfg, name) != getattr(defaults, name)
        }

    @classmethod
    def from_record(cls, params: Mapping[str, Any]) -> Consensus:
        """The protocol as a ledger's genesis recorded it (unknown or invalid parameters raise
        ``ValueError`` naming them)."""
        if not isinstance(params, Mapping):
            raise ValueError(f"consensus parameters: expected an object, found {params!r}")
        unknown = sorted(set(params) - set(cls.parameters))
        if unknown:
            raise ValueError(
                f"consensus {cls.kind!r} has no parameters {unknown}: allowed {list(cls.parameters)}"
            )
        return cls(dataclasses.replace(ChainConfig(), consensus=cls.kind, **params))

    @abstractmethod
    def certify(
        self, ctx: RoundContext, members: Mapping[str, CommitteeMember], rng: np.random.Generator
    ) -> CommitResult:
        """Run the protocol for one block."""

    @abstractmethod
    def check_block(
        self, header: Mapping[str, Any], height: int, view_changes: Sequence[Mapping[str, Any]]
    ) -> str | None:
        """The audit's check of a stored header and the block's view-change records: why it
        breaks this protocol's rules, or None."""


CONSENSUS: dict[str, type[Consensus]] = {}


def register_consensus(cls: type[Consensus]) -> type[Consensus]:
    """Class decorator: ``cls.kind`` becomes a value ``chain.consensus`` accepts."""
    CONSENSUS[cls.kind] = cls
    allow_choice(ConsensusKind, cls.kind)
    return cls


def unregister_consensus(kind: str) -> None:
    """Remove a kind registered after import (tests, notebooks); the declared kinds stay."""
    disallow_choice(ConsensusKind, kind)
    CONSENSUS.pop(kind, None)


def make_consensus(cfg: ChainConfig) -> Consensus:
    cls = CONSENSUS.get(cfg.consensus)
    if cls is None:
        raise ValueError(
            f"chain.consensus={cfg.consensus!r} is not allowed: choose one of {sorted(CONSENSUS)}"
        )
    return cls(cfg)
