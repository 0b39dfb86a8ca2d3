"""Committee election rules, re-run before every round, behind one registry.

* ``reputation``: sample without replacement with probability proportional to beta reputation
  (proof of quality's reputation-weighted miners, Lu et al., IEEE TII 2020);
* ``round_robin``: rotate through the candidates;
* ``top_trainers`` (BFLC, Li et al., IEEE Network 2021): the previous round's best-scoring
  trainers first, filled up by reputation. A vehicle elected this way does not train in the round
  it serves, and a vehicle with an update still in flight is not elected, so no member ever judges
  its own update.

To add a rule: subclass :class:`ElectionRule`, decorate it with ``@register_election`` and add its
name to ``ElectionRule`` in ``bcfl_env.config``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, get_args

import numpy as np

from bcfl_env.config import ElectionRule as ElectionName
from bcfl_env.config import allow_choice

__all__ = ["ELECTIONS", "ElectionRule", "make_election", "register_election"]


class ElectionRule(ABC):
    kind: ClassVar[str]

    @abstractmethod
    def elect(
        self,
        candidates: Sequence[str],
        size: int,
        round_: int,
        reputation: Callable[[str], float],
        rng: np.random.Generator,
        top_trainers: Sequence[str] = (),
    ) -> list[str]:
        """``size`` members out of ``candidates`` (and, where the rule allows, ``top_trainers``)."""


ELECTIONS: dict[str, type[ElectionRule]] = {}


def register_election(cls: type[ElectionRule]) -> type[ElectionRule]:
    """Class decorator: ``cls.kind`` becomes a value ``chain.election`` accepts."""
    ELECTIONS[cls.kind] = cls
    allow_choice(ElectionName, cls.kind)
    return cls


def _by_reputation(
    pool: Sequence[str], need: int, reputation: Callable[[str], float], rng: np.random.Generator
) -> list[str]:
    weights = np.array([reputation(c) for c in pool], dtype=np.float64)
    picks = rng.choice(len(pool), size=need, replace=False, p=weights / weights.sum())
    return [pool[i] for i in sorted(picks)]


@register_election
class ReputationElection(ElectionRule):
    kind = "reputation"

    def elect(
        self,
        candidates: Sequence[str],
        size: int,
        round_: int,
        reputation: Callable[[str], float],
        rng: np.random.Generator,
        top_trainers: Sequence[str] = (),
    ) -> list[str]:
        return _by_reputation(list(candidates), size, reputation, rng)


@register_election
class RoundRobinElection(ElectionRule):
    kind = "round_robin"

    def elect(
        self,
        candidates: Sequence[str],
        size: int,
        round_: int,
        reputation: Callable[[str], float],
        rng: np.random.Generator,
        top_trainers: Sequence[str] = (),
    ) -> list[str]:
        start = (round_ * size) % len(candidates)
        return [candidates[(start + i) % len(candidates)] for i in range(size)]


@register_election
class TopTrainersElection(ElectionRule):
    kind = "top_trainers"

    def elect(
        self,
        candidates: Sequence[str],
        size: int,
        round_: int,
        reputation: Callable[[str], float],
        rng: np.random.Generator,
        top_trainers: Sequence[str] = (),
    ) -> list[str]:
        chosen = list(dict.fromkeys(top_trainers))[:size]
        rest = [c for c in candidates if c not in chosen]
        return chosen + _by_reputation(rest, size - len(chosen), reputation, rng)


def make_election(kind: str) -> ElectionRule:
    cls = ELECTIONS.get(kind)
    if cls is None:
        raise ValueError(
            f"chain.election={kind!r} is not allowed: choose one of {sorted(ELECTIONS)}"
        )
    return cls()


assert set(ELECTIONS) == set(get_args(ElectionName)), "registry and config differ"
