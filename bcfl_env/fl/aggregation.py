"""Aggregation rules: pure functions over (parameters, weight) pairs as (U, P) tensors.

* ``fedavg``: sample-weighted mean (McMahan et al., AISTATS 2017).
* ``fedasync``: ``x <- (1 - a_t) x + a_t x_new``, ``a_t = alpha s(staleness)`` (Xie, Koyejo, Gupta,
  "Asynchronous federated optimization", 2019), applied update by update in arrival order; the
  staleness functions are constant, polynomial ``(t + 1)^-a`` and hinge (1 if t <= b, else
  ``1 / (a (t - b) + 1)``).
* ``median``: coordinate-wise median; ``trimmed_mean``: drop a fraction at each end per coordinate
  (Yin et al., ICML 2018).
* ``multi_krum``: average the m updates with the smallest sum of squared distances to their
  U - f - 2 nearest neighbours (Blanchard et al., NeurIPS 2017).
"""

from __future__ import annotations

import torch

__all__ = [
    "aggregate",
    "fedasync",
    "fedavg",
    "median",
    "multi_krum",
    "staleness_weight",
    "trimmed_mean",
]


def fedavg(params: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    w = weights.to(params.dtype)
    if params.shape[0] == 0 or float(w.sum()) <= 0:
        raise ValueError("fedavg needs at least one update with positive weight")
    return (w[:, None] * params).sum(dim=0) / w.sum()


def staleness_weight(
    staleness: torch.Tensor, fn: str, a: float = 0.5, b: float = 4.0
) -> torch.Tensor:
    t = staleness.to(torch.float32)
    if fn == "constant":
        return torch.ones_like(t)
    if fn == "polynomial":
        return (t + 1) ** (-a)
    if fn == "hinge":
        return torch.where(t <= b, torch.ones_like(t), 1.0 / (a * (t - b) + 1))
    raise ValueError(
        f"fl.staleness_fn={fn!r} is not allowed: choose one of ['constant', 'polynomial', 'hinge']"
    )


def fedasync(
    global_params: torch.Tensor,
    params: torch.Tensor,
    staleness: torch.Tensor,
    alpha: float,
    fn: str,
    a: float = 0.5,
    b: float = 4.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix updates into the global model in order; returns the new model and each mixing weight."""
    mix = alpha * staleness_weight(staleness, fn, a, b)
    x = global_params.clone()
    for i in range(params.shape[0]):
        x = (1 - mix[i]) * x + mix[i] * params[i]
    return x, mix


def median(params: torch.Tensor) -> torch.Tensor:
    return params.median(dim=0).values if params.shape[0] % 2 else params.quantile(0.5, dim=0)


def trimmed_mean(params: torch.Tensor, fraction: float) -> torch.Tensor:
    u = params.shape[0]
    cut = int(fraction * u)
    if u - 2 * cut < 1:
        raise ValueError(f"fl.trim_fraction={fraction} leaves no update out of {u}")
    ordered = params.sort(dim=0).values
    return ordered[cut : u - cut].mean(dim=0)


def multi_krum(
    params: torch.Tensor, f: int, m: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-Krum; returns the aggregate and the indices chosen."""
    u = params.shape[0]
    neighbours = max(u - f - 2, 1)
    dist = torch.cdist(params, params) ** 2
    scores = dist.sort(dim=1).values[:, 1 : neighbours + 1].sum(dim=1)
    keep = m if m is not None else max(u - f, 1)
    chosen = scores.argsort()[:keep]
    return params[chosen].mean(dim=0), chosen


def aggregate(
    rule: str,
    params: torch.Tensor,
    weights: torch.Tensor,
    *,
    trim_fraction: float = 0.1,
    krum_f: int = 1,
) -> torch.Tensor:
    """Synchronous aggregation of (U, P) updates by ``rule``."""
    if params.shape[0] == 0:
        raise ValueError("aggregation needs at least one update")
    if rule == "fedavg":
        return fedavg(params, weights)
    if rule == "median":
        return median(params)
    if rule == "trimmed_mean":
        return trimmed_mean(params, trim_fraction)
    if rule == "krum":
        return multi_krum(params, krum_f)[0]
    raise ValueError(
        f"fl.aggregation={rule!r} is not allowed here: choose one of ['fedavg', 'median', 'trimmed_mean', 'krum']"
    )
