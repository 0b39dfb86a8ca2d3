"""Poisoning by malicious vehicles, applied to what a vehicle submits; one function per attack.

* ``sign_flip``: ``base - s (trained - base)`` (Damaskinos et al. / Fang et al., USENIX Sec. 2020);
* ``scaled``: model replacement ``base + s (trained - base)`` (Bagdasaryan et al., AISTATS 2020);
* ``gaussian``: ``base + N(0, s^2)`` in place of a trained update;
* ``free_ride``: return the received model unchanged (Lin et al., 2019);
* ``label_flip``: train on labels ``c -> C - 1 - c`` (Tolpegin et al., ESORICS 2020), via a label
  map during training; its update is the trained one.

To add an attack: one function ``(base, trained, scale, generator) -> poisoned`` decorated with
``@register_attack("name")``, the name added to ``AttackKind`` in ``bcfl_env.config``, and a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import torch

from bcfl_env.config import AttackKind, allow_choice

__all__ = ["ATTACKS", "REGISTRY", "label_flip_map", "poison_updates", "register_attack"]

Attack = Callable[[torch.Tensor, torch.Tensor, float, torch.Generator], torch.Tensor]
REGISTRY: dict[str, Attack] = {}


def register_attack(name: str) -> Callable[[Attack], Attack]:
    """Decorator: ``name`` becomes a value ``fl.attack`` accepts."""

    def register(fn: Attack) -> Attack:
        REGISTRY[name] = fn
        allow_choice(AttackKind, name)
        return fn

    return register


@register_attack("sign_flip")
def sign_flip(
    base: torch.Tensor, trained: torch.Tensor, scale: float, g: torch.Generator
) -> torch.Tensor:
    return base - scale * (trained - base)


@register_attack("scaled")
def scaled(
    base: torch.Tensor, trained: torch.Tensor, scale: float, g: torch.Generator
) -> torch.Tensor:
    return base + scale * (trained - base)


@register_attack("gaussian")
def gaussian(
    base: torch.Tensor, trained: torch.Tensor, scale: float, g: torch.Generator
) -> torch.Tensor:
    return base + scale * torch.randn(trained.shape, generator=g).to(trained.device)


@register_attack("free_ride")
def free_ride(
    base: torch.Tensor, trained: torch.Tensor, scale: float, g: torch.Generator
) -> torch.Tensor:
    return base.expand_as(trained).clone()


@register_attack("label_flip")
def label_flip(
    base: torch.Tensor, trained: torch.Tensor, scale: float, g: torch.Generator
) -> torch.Tensor:
    return trained  # the poison is in the labels it trained on (label_flip_map)


ATTACKS = tuple(REGISTRY)
assert set(REGISTRY) == set(get_args(AttackKind)), "registry and config differ"


def label_flip_map(malicious: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, classes) label substitution: identity for honest vehicles, reversed for attackers."""
    ident = torch.arange(num_classes).expand(malicious.numel(), -1)
    flipped = num_classes - 1 - ident
    return torch.where(malicious[:, None], flipped, ident).to(torch.long)


def poison_updates(
    kind: str,
    base: torch.Tensor,
    trained: torch.Tensor,
    malicious: torch.Tensor,
    scale: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Replace the malicious rows of ``trained`` (K, P) by the attack's output (``trained`` itself
    when nothing changes)."""
    attack = REGISTRY.get(kind)
    if attack is None:
        raise ValueError(f"fl.attack={kind!r} is not allowed: choose one of {list(REGISTRY)}")
    if kind == "label_flip" or not bool(malicious.any()):
        return trained
    return torch.where(malicious[:, None], attack(base, trained, scale, generator), trained)
