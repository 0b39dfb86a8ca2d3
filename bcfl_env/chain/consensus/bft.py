"""PBFT-style committee agreement with a leader that rotates with the height and the view.

Castro and Liskov, "Practical Byzantine fault tolerance", OSDI 1999: with n = 3f + 1 members, a
block is committed with 2f + 1 signatures over its hash. The leader of view v at height h is
``committee[(h + v) mod n]``: it knows nothing of who is faulty. It proposes the block (the
verdict on each update); each member checks the verdict against the rule applied to the signed
ballots it received and signs the block hash only if they agree. The quorum certificate holds
exactly the signatures cast. A proposal short of 2f + 1 signatures is a failed view: the members
wait ``view_change_timeout_s``, the next leader proposes and its block records each failed view
(``view_change`` transactions). After n failed views the round ends without a block (liveness
lost, which more than f faulty members can cause); its transactions wait for the next round.

Latency of one attempt: PBFT's pre-prepare, prepare and commit over the RSU backhaul, plus each
member's signature checks and score evaluations, which run in parallel across members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from bcfl_env.chain.block import Block
from bcfl_env.chain.committee import CommitteeMember
from bcfl_env.chain.consensus.base import (
    CommitResult,
    Consensus,
    RoundContext,
    build_block,
    register_consensus,
)
from bcfl_env.chain.transactions import Transaction

__all__ = ["RotatingLeaderBFT"]


@register_consensus
class RotatingLeaderBFT(Consensus):
    kind = "bft"
    parameters: ClassVar[tuple[str, ...]] = (
        "bft_max_faulty", "view_change_timeout_s", "backhaul_latency_s", "backhaul_bandwidth_bps",
        "signature_verify_s", "score_eval_s",
    )  # fmt: skip

    def quorum(self, committee_size: int) -> int:
        """n - f, with f = ``chain.bft_max_faulty`` capped by what n = 3f + 1 allows."""
        bound = (committee_size - 1) // 3
        assumed = self.cfg.bft_max_faulty
        return committee_size - (bound if assumed is None else min(int(assumed), bound))

    @staticmethod
    def leader(committee: Sequence[str], height: int, view: int) -> str:
        return committee[(height + view) % len(committee)]

    def attempt_latency_s(
        self, n_members: int, n_updates: int, block_bits: float, rng: np.random.Generator
    ) -> float:
        """Simulated time of one proposal and its votes [s] (see the module docstring)."""
        cfg = self.cfg
        checks = (n_updates + n_members) * cfg.signature_verify_s
        scoring = n_updates * cfg.score_eval_s
        vote_bits = 8 * 64 * (n_updates + 2)  # signature plus one vote per update
        pre_prepare = cfg.backhaul_latency_s + block_bits / cfg.backhaul_bandwidth_bps
        prepare = cfg.backhaul_latency_s + n_members * vote_bits / cfg.backhaul_bandwidth_bps
        commit = cfg.backhaul_latency_s + n_members * 512 / cfg.backhaul_bandwidth_bps
        return checks + scoring + pre_prepare + prepare + commit

    def certify(
        self, ctx: RoundContext, members: Mapping[str, CommitteeMember], rng: np.random.Generator
    ) -> CommitResult:
        committee = ctx.committee
        n, need = len(committee), self.quorum(len(committee))
        latency, changes = 0.0, list[Transaction]()
        for view in range(n):
            leader = members[self.leader(committee, ctx.height, view)]
            proposed = leader.behaviour.propose(ctx.expected, ctx.update_ids, rng)
            block = build_block(ctx, leader, view, proposed, changes)
            signers = [
                m for m in committee if members[m].behaviour.endorses(proposed, ctx.expected, rng)
            ]
            bits = 8 * (
                len(block.header) + sum(len(t.body) + len(t.signature) for t in block.transactions)
            )
            latency += self.attempt_latency_s(n, len(ctx.updates), bits, rng)
            if len(signers) >= need:
                block.qc = [(m, members[m].sign_header(block.header)) for m in signers]
                conflicting = self._equivocation(ctx, members, view, changes)
                return CommitResult(block, view, latency, changes, conflicting)
            latency += self.cfg.view_change_timeout_s
            reporter = members[self.leader(committee, ctx.height, view + 1)]
            payload = {
                "round": ctx.round, "height": ctx.height, "view": view, "leader": leader.name,
                "signatures": len(signers), "needed": need,
            }  # fmt: skip
            changes.append(reporter.identity.transaction("view_change", payload))
        return CommitResult(None, n, latency, changes)

    def _equivocation(
        self,
        ctx: RoundContext,
        members: Mapping[str, CommitteeMember],
        view: int,
        changes: list[Transaction],
    ) -> list[Block]:
        """Equivocators also sign one conflicting block at this height: the same without updates."""
        liars = [m for m in ctx.committee if members[m].behaviour.equivocates]
        if not liars or not (ctx.updates or ctx.rejected_records):
            return []  # nothing to strip: the "conflicting" block would be the same block
        other = build_block(ctx, members[liars[0]], view, (), changes, with_updates=False)
        other.qc = [(m, members[m].sign_header(other.header)) for m in liars]
        return [other]

    def check_block(
        self, header: Mapping[str, Any], height: int, view_changes: Sequence[Mapping[str, Any]]
    ) -> str | None:
        committee = list(header["committee"])
        if header.get("quorum") != self.quorum(len(committee)):
            return (
                f"quorum: expected {self.quorum(len(committee))} for {len(committee)} members, "
                f"found {header.get('quorum')!r}"
            )
        view = header.get("view")
        if not isinstance(view, int) or not 0 <= view < len(committee):
            return f"view: expected an integer in [0, {len(committee) - 1}], found {view!r}"
        expected = self.leader(committee, height, view)
        if header["proposer"] != expected:
            return (
                f"proposer: the leader of view {view} is {expected!r}, found {header['proposer']!r}"
            )
        this_round = [vc for vc in view_changes if vc.get("round") == header["round"]]
        failed = sorted(int(vc["view"]) for vc in this_round)
        if failed != list(range(view)):
            return f"view changes: a block in view {view} records views {list(range(view))} as failed, found {failed}"
        for vc in this_round:
            leader = self.leader(committee, height, int(vc["view"]))
            if vc.get("leader") != leader or vc.get("height") != height:
                return f"view change of view {vc['view']}: its leader was {leader!r} at height {height}, found {vc.get('leader')!r} at {vc.get('height')!r}"
        return None
