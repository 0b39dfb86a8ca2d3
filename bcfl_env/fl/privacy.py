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
            lap = torch.distributions.Laplace(0.0, noise_multiplier * clip)
            u = torch.rand(delta.shape, generator=generator).to(delta.device) - 0.5
            noise = (
                -lap.scale * torch.sign(u) * torch.log1p(-2 * u.abs())
            )  # inverse CDF with our generator
            delta = delta + noise
    else:
        raise ValueError(
            f"fl.dp={mechanism!r} is not allowed: choose one of ['none', 'gaussian', 'laplace']"
        )
    return base + delta


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
