"""Differential privacy on updates, with a privacy accountant.

* Gaussian: clip the update ``delta = trained - base`` to L2 norm C, add N(0, (sigma C)^2) per
  coordinate (local DP for the health preset; Abadi et al., CCS 2016 style calibration).
* Laplace: clip ``delta`` to L1 norm C, add Laplace(b C) per coordinate (the industrial paper's
  choice, Lu et al., IEEE TII 2020).

The accountant is Google's ``dp-accounting`` RDP accountant (Mironov, CSF 2017). It was chosen over
opacus' accountant because it accounts for both mechanisms we use (Gaussian and Laplace events;
opacus covers only the (subsampled) Gaussian), it has no dependency on torch, and it composes
events explicitly, which matches "one release per round a vehicle took part in". Each
participation is one release with sensitivity C; epsilon is reported for the configured delta.
"""

from __future__ import annotations

import math

import torch
from dp_accounting import dp_event
from dp_accounting.rdp import RdpAccountant

__all__ = ["clip_and_noise", "epsilon"]


def clip_and_noise(
    base: torch.Tensor,
    trained: torch.Tensor,
    mechanism: str,
    clip: float,
    noise_multiplier: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Privatise (K, P) updates relative to ``base`` (K, P) or (P,)."""
    if mechanism == "none":
        return trained
    delta = trained - base
    if mechanism == "gaussian":
        norm = delta.norm(dim=1, keepdim=True)
        delta = delta * torch.clamp(clip / norm.clamp(min=1e-12), max=1.0)
        if noise_multiplier > 0:
            delta = delta + noise_multiplier * clip * torch.randn(
                delta.shape, generator=generator
            ).to(delta.device)
    elif mechanism == "laplace":
        norm = delta.abs().sum(dim=1, keepdim=True)
        delta = delta * torch.clamp(clip / norm.clamp(min=1e-12), max=1.0)
        if noise_multiplier > 0:
            uniform = torch.rand(delta.shape, generator=generator).to(delta.device)
            delta = delta + laplace_from_uniform(uniform, noise_multiplier * clip)
    else:
        raise ValueError(
            f"fl.dp={mechanism!r} is not allowed: choose one of ['none', 'gaussian', 'laplace']"
        )
    return base + delta


def laplace_from_uniform(uniform: torch.Tensor, scale: float) -> torch.Tensor:
    """Laplace(0, ``scale``) samples from uniform [0, 1) samples by the inverse CDF.

    ``torch.rand`` can return exactly 0, where the inverse CDF is -inf; the tail stops at the
    float32 grid's step 2^-24 instead, so |noise| <= 16.6 x scale and the update stays finite.
    """
    u = uniform - 0.5
    tail = (1 - 2 * u.abs()).clamp(min=2.0**-24)
    return -scale * torch.sign(u) * torch.log(tail)


def epsilon(mechanism: str, noise_multiplier: float, releases: int, delta: float) -> float:
    """(epsilon, delta)-DP after ``releases`` participations; inf without noise, 0 with none."""
    if mechanism == "none" or releases == 0:
        return 0.0 if releases == 0 else math.inf
    if noise_multiplier <= 0:
        return math.inf
    event = (
        dp_event.GaussianDpEvent(noise_multiplier)
        if mechanism == "gaussian"
        else dp_event.LaplaceDpEvent(noise_multiplier)
    )
    accountant = RdpAccountant()
    accountant.compose(dp_event.SelfComposedDpEvent(event, int(releases)))
    return float(accountant.get_epsilon(delta))
