"""Beta reputation (Josang and Ismail, "The beta reputation system", Bled eConference 2002).

Each identity's reputation is the expected value of Beta(positive + 1, negative + 1): 0.5 for a
newcomer, rising with accepted updates (vehicles) or votes agreeing with the committee's decision
(members), falling with rejections. Observations read it and committee election weighs by it.
"""

from __future__ import annotations

__all__ = ["Reputation"]


class Reputation:
    def __init__(self) -> None:
        self._pos: dict[str, float] = {}
        self._neg: dict[str, float] = {}
        self._changed: set[str] = set()

    def record(self, identity: str, positive: bool, weight: float = 1.0) -> None:
        book = self._pos if positive else self._neg
        book[identity] = book.get(identity, 0.0) + weight
        self._changed.add(identity)

    def pop_changed(self) -> set[str]:
        """Identities recorded since the last call (a reader's cache refreshes only these)."""
        changed, self._changed = self._changed, set()
        return changed

    def score(self, identity: str) -> float:
        p, n = self._pos.get(identity, 0.0), self._neg.get(identity, 0.0)
        return (p + 1.0) / (p + n + 2.0)

    def counts(self, identity: str) -> tuple[float, float]:
        return self._pos.get(identity, 0.0), self._neg.get(identity, 0.0)
