"""Ballots and the acceptance rule: the one function the committee's leader, every honest member
and the audit apply to the same signed ballots.

A ballot is one member's signed view of the round's updates: ``{"round", "baseline", "votes":
[[update id, score or null, accept or null], ...]}``. ``baseline`` is the member's score of the
current global model; a null vote is an abstention (a member never judges its own update). Rules
(proof of quality, Lu et al., IEEE TII 2020; BFLC, Li et al., IEEE Network 2021):

* ``quorum``: accepted with at least 2f + 1 accept votes among n = 3f + 1 members;
* ``median``: accepted when the median reported score is at least the median baseline minus the
  score margin (a rule that f faulty scores cannot move past the honest range).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["ballot_payload", "ballot_problem", "tally"]


def ballot_payload(
    round_: int,
    baseline: float,
    update_ids: Sequence[str],
    accept: Sequence[bool | None],
    scores: Sequence[float | None],
) -> dict[str, Any]:
    votes = [
        [tx_id, None if s is None or not np.isfinite(s) else round(float(s), 6), a]
        for tx_id, a, s in zip(update_ids, accept, scores, strict=True)
    ]
    base = round(float(baseline), 6) if np.isfinite(baseline) else None
    return {"round": round_, "baseline": base, "votes": votes}


def ballot_problem(payload: Any) -> str | None:
    """Why a ballot payload is malformed, or None."""
    if not isinstance(payload, dict) or set(payload) != {"round", "baseline", "votes"}:
        return "ballot must hold exactly round, baseline and votes"
    if not isinstance(payload["votes"], list):
        return "votes is not a list"
    for vote in payload["votes"]:
        if not (isinstance(vote, list) and len(vote) == 3 and isinstance(vote[0], str)):
            return "a vote is not [update id, score, accept]"
        if vote[2] not in (True, False, None):
            return "a vote's accept is not true, false or null"
    return None


def tally(
    ballots: Mapping[str, dict[str, Any]],
    update_ids: Sequence[str],
    quorum: int,
    rule: str,
    margin: float,
) -> list[str]:
    """The update ids the rule accepts, in ``update_ids`` order (``quorum``: the accept votes the
    consensus's quorum rule asks for)."""
    accept_votes: dict[str, int] = dict.fromkeys(update_ids, 0)
    scores: dict[str, list[float]] = {u: [] for u in update_ids}
    baselines: list[float] = []
    for payload in ballots.values():
        if payload.get("baseline") is not None:
            baselines.append(float(payload["baseline"]))
        for tx_id, score, accept in payload["votes"]:
            if tx_id not in accept_votes:
                continue
            if accept is True:
                accept_votes[tx_id] += 1
            if score is not None and accept is not None:
                scores[tx_id].append(float(score))
    if rule == "median":
        threshold = float(np.median(baselines)) - margin if baselines else np.inf
        return [u for u in update_ids if scores[u] and float(np.median(scores[u])) >= threshold]
    return [u for u in update_ids if accept_votes[u] >= quorum]
