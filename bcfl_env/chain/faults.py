"""What a committee member does: honest, or one of the faulty behaviours, behind one protocol.

A behaviour acts only through the protocol's three moves: the ballot it signs, the verdict it
proposes when it leads, and whether it signs a proposed block (and, for an equivocator, a
conflicting one too). Nobody else reads whether a member is faulty: a faulty leader is found out
because honest members refuse its proposal, and an equivocator because its two signatures at one
height are evidence. Faults follow the Byzantine model of PBFT (Castro and Liskov, OSDI 1999).

To add a behaviour: subclass :class:`MemberBehaviour`, decorate it with ``@register_behaviour``
and add its name to ``FaultBehaviour`` in ``bcfl_env.config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, get_args

import numpy as np

from bcfl_env.config import FaultBehaviour, allow_choice

__all__ = [
    "BEHAVIOURS",
    "AlwaysAccept",
    "AlwaysReject",
    "Equivocate",
    "Honest",
    "MemberBehaviour",
    "RandomMember",
    "make_behaviour",
    "register_behaviour",
]

Votes = tuple[list[bool | None], list[float | None]]


class MemberBehaviour:
    """Honest by default; a faulty behaviour overrides the moves it corrupts."""

    kind: ClassVar[str] = "honest"
    equivocates: ClassVar[bool] = False

    def vote(
        self,
        scores: np.ndarray,
        baseline: float,
        margin: float,
        own: np.ndarray,
        rng: np.random.Generator,
    ) -> Votes:
        """(accept, reported score) per update; ``own`` marks the member's own updates (abstain)."""
        accept: list[bool | None] = [
            None if mine else bool(s >= baseline - margin)
            for s, mine in zip(scores, own, strict=True)
        ]
        reported: list[float | None] = [
            None if mine else float(s) for s, mine in zip(scores, own, strict=True)
        ]
        return accept, reported

    def propose(
        self, expected: tuple[str, ...], update_ids: Sequence[str], rng: np.random.Generator
    ) -> tuple[str, ...]:
        """The accepted update ids this member proposes as leader."""
        return expected

    def endorses(
        self, proposed: tuple[str, ...], expected: tuple[str, ...], rng: np.random.Generator
    ) -> bool:
        """Whether the member signs a block whose verdict accepts ``proposed``."""
        return proposed == expected


BEHAVIOURS: dict[str, type[MemberBehaviour]] = {}


def register_behaviour(cls: type[MemberBehaviour]) -> type[MemberBehaviour]:
    """Class decorator: ``cls.kind`` (other than ``honest``) becomes a value
    ``chain.faulty_behavior`` accepts."""
    BEHAVIOURS[cls.kind] = cls
    if cls.kind != "honest":
        allow_choice(FaultBehaviour, cls.kind)
    return cls


@register_behaviour
class Honest(MemberBehaviour):
    kind = "honest"


@register_behaviour
class AlwaysAccept(MemberBehaviour):
    """Accepts every update, proposes accepting all of them, signs anything."""

    kind = "always_accept"

    def vote(
        self,
        scores: np.ndarray,
        baseline: float,
        margin: float,
        own: np.ndarray,
        rng: np.random.Generator,
    ) -> Votes:
        accept, reported = super().vote(scores, baseline, margin, own, rng)
        return [None if a is None else True for a in accept], reported

    def propose(
        self, expected: tuple[str, ...], update_ids: Sequence[str], rng: np.random.Generator
    ) -> tuple[str, ...]:
        return tuple(update_ids)

    def endorses(
        self, proposed: tuple[str, ...], expected: tuple[str, ...], rng: np.random.Generator
    ) -> bool:
        return True


@register_behaviour
class AlwaysReject(MemberBehaviour):
    """Rejects every update, proposes rejecting all of them, and signs no block."""

    kind = "always_reject"

    def vote(
        self,
        scores: np.ndarray,
        baseline: float,
        margin: float,
        own: np.ndarray,
        rng: np.random.Generator,
    ) -> Votes:
        accept, reported = super().vote(scores, baseline, margin, own, rng)
        return [None if a is None else False for a in accept], reported

    def propose(
        self, expected: tuple[str, ...], update_ids: Sequence[str], rng: np.random.Generator
    ) -> tuple[str, ...]:
        return ()

    def endorses(
        self, proposed: tuple[str, ...], expected: tuple[str, ...], rng: np.random.Generator
    ) -> bool:
        return False


@register_behaviour
class RandomMember(MemberBehaviour):
    """Votes, scores, proposes and signs at random."""

    kind = "random"

    def vote(
        self,
        scores: np.ndarray,
        baseline: float,
        margin: float,
        own: np.ndarray,
        rng: np.random.Generator,
    ) -> Votes:
        draws = rng.random((2, len(scores)))
        accept = [None if mine else bool(d < 0.5) for d, mine in zip(draws[0], own, strict=True)]
        reported = [None if mine else float(d) for d, mine in zip(draws[1], own, strict=True)]
        return accept, reported

    def propose(
        self, expected: tuple[str, ...], update_ids: Sequence[str], rng: np.random.Generator
    ) -> tuple[str, ...]:
        return tuple(u for u in update_ids if rng.random() < 0.5)

    def endorses(
        self, proposed: tuple[str, ...], expected: tuple[str, ...], rng: np.random.Generator
    ) -> bool:
        return bool(rng.random() < 0.5)


@register_behaviour
class Equivocate(MemberBehaviour):
    """Votes honestly, signs every proposal, and also signs a conflicting block at the same height
    (the same block without its updates)."""

    kind = "equivocate"
    equivocates = True

    def endorses(
        self, proposed: tuple[str, ...], expected: tuple[str, ...], rng: np.random.Generator
    ) -> bool:
        return True


def make_behaviour(kind: str) -> MemberBehaviour:
    cls = BEHAVIOURS.get(kind)
    if cls is None:
        raise ValueError(
            f"faulty_behavior={kind!r} is not allowed: choose one of {sorted(BEHAVIOURS)}"
        )
    return cls()


assert set(BEHAVIOURS) - {"honest"} == set(get_args(FaultBehaviour)), "registry and config differ"
