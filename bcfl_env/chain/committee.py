"""Committee election, voting and the consensus latency model.

Committee consensus follows BFLC (Li et al., "A blockchain-based decentralized federated learning
framework with committee consensus", IEEE Network 2021) and proof of quality (Lu et al., IEEE TII
2020): members score every update on their own validation data and vote; with n = 3f + 1 members
an update needs 2f + 1 accept votes. The latency of one block is the PBFT message pattern
(Castro and Liskov, OSDI 1999: pre-prepare, prepare, commit) over the RSU backhaul plus the
members' signature checks and score evaluations, which run in parallel across members. The
proof-of-work alternative follows BlockFL (Kim et al., IEEE Commun. Lett. 2020): exponential
block intervals, and a fork forces another interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcfl_env.chain.block import quorum_size
from bcfl_env.config import ChainConfig

__all__ = ["CommitteeVotes", "consensus_latency_s", "decide", "elect_committee", "member_votes"]


def elect_committee(
    candidates: list[str],
    size: int,
    rng: np.random.Generator,
    rule: str,
    reputation: np.ndarray,
    round_: int,
    top_trainers: list[str] | None = None,
) -> list[str]:
    """Pick ``size`` members.

    Rules: ``reputation`` samples without replacement with probability proportional to reputation;
    ``round_robin`` rotates through the candidates; ``top_trainers`` (BFLC) takes the previous
    round's best-scoring trainers first and fills up by reputation.
    """
    if size > len(candidates):
        raise ValueError(f"committee_size={size} is out of range: allowed [1, {len(candidates)}]")
    if rule == "round_robin":
        start = (round_ * size) % len(candidates)
        return [candidates[(start + i) % len(candidates)] for i in range(size)]
    chosen: list[str] = []
    if rule == "top_trainers" and top_trainers:
        chosen = list(dict.fromkeys(top_trainers))[:size]
    rest = [c for c in candidates if c not in chosen]
    need = size - len(chosen)
    if need > 0:
        weights = np.array([reputation[candidates.index(c)] for c in rest], dtype=np.float64)
        picks = rng.choice(len(rest), size=need, replace=False, p=weights / weights.sum())
        chosen += [rest[i] for i in sorted(picks)]
    return chosen


@dataclass
class CommitteeVotes:
    accept: np.ndarray  # (members, updates) bool: each member's vote
    scores: np.ndarray  # (members, updates) the scores members sign
    accepted: np.ndarray  # (updates,) the committee's decision


def member_votes(
    scores: np.ndarray,
    baseline: np.ndarray,
    margin: float,
    behaviour: list[str | None],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Each member's (accept, reported score) per update.

    Honest members accept an update whose score on their validation data is at least their score
    of the current global model minus ``margin``. Faulty members vote per ``behaviour``.
    """
    accept = scores >= (baseline[:, None] - margin)
    reported = scores.copy()
    for m, kind in enumerate(behaviour):
        if kind == "random":
            accept[m] = rng.random(scores.shape[1]) < 0.5
            reported[m] = rng.random(scores.shape[1])
        elif kind == "always_accept":
            accept[m] = True
        elif kind == "always_reject":
            accept[m] = False
    return accept, reported


def decide(
    accept: np.ndarray, scores: np.ndarray, baseline: np.ndarray, rule: str, margin: float
) -> np.ndarray:
    """Committee decision per update: 2f + 1 accept votes (``quorum``) or median score rule."""
    n = accept.shape[0]
    if rule == "median":
        return np.median(scores, axis=0) >= np.median(baseline) - margin
    return accept.sum(axis=0) >= quorum_size(n)


def consensus_latency_s(
    cfg: ChainConfig, n_members: int, n_updates: int, block_bits: float, rng: np.random.Generator
) -> float:
    """Simulated time to agree on one block [s] (see module docstring)."""
    if cfg.consensus == "pow":
        t = float(rng.exponential(cfg.pow_mean_block_s))
        while rng.random() < cfg.pow_fork_prob:  # a fork discards the block: mine again
            t += float(rng.exponential(cfg.pow_mean_block_s))
        return t
    checks = (n_updates + n_members) * cfg.signature_verify_s  # each member, in parallel
    scoring = n_updates * cfg.score_eval_s
    vote_bits = 8 * 64 * (n_updates + 2)  # signature plus one vote per update
    pre_prepare = cfg.backhaul_latency_s + block_bits / cfg.backhaul_bandwidth_bps
    prepare = cfg.backhaul_latency_s + n_members * vote_bits / cfg.backhaul_bandwidth_bps
    commit = cfg.backhaul_latency_s + n_members * 512 / cfg.backhaul_bandwidth_bps
    return checks + scoring + pre_prepare + prepare + commit
