"""Poisoning by malicious vehicles, applied to what a vehicle submits.

* ``sign_flip``: ``base - s (trained - base)`` (Damaskinos et al. / Fang et al., USENIX Sec. 2020);
* ``scaled``: model replacement ``base + s (trained - base)`` (Bagdasaryan et al., AISTATS 2020);
* ``gaussian``: ``base + N(0, s^2)`` in place of a trained update;
* ``free_ride``: return the received model unchanged (Lin et al., 2019);
* ``label_flip``: train on labels ``c -> C - 1 - c`` (Tolpegin et al., ESORICS 2020), via a label map.
"""

from __future__ import annotations

import torch

__all__ = ["ATTACKS", "label_flip_map", "poison_updates"]

ATTACKS = ("sign_flip", "label_flip", "gaussian", "scaled", "free_ride")


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
    """Replace the malicious rows of ``trained`` (K, P) by the attack's output."""
    if kind not in ATTACKS:
        raise ValueError(f"fl.attack={kind!r} is not allowed: choose one of {list(ATTACKS)}")
    if kind == "label_flip" or not bool(malicious.any()):
        return trained
    delta = trained - base
    if kind == "sign_flip":
        bad = base - scale * delta
    elif kind == "scaled":
        bad = base + scale * delta
    elif kind == "gaussian":
        bad = base + scale * torch.randn(trained.shape, generator=generator).to(trained.device)
    else:
        bad = base.clone()
    return torch.where(malicious[:, None], bad, trained)
