"""Aggregation rules: pure functions over (parameters, weight) pairs as (U, P) tensors.

* ``fedavg``: sample-weighted mean (McMahan et al., AISTATS 2017).
* ``fedasync``: ``x <- (1 - a_t) x + a_t x_new``, ``a_t = alpha s(staleness)`` (Xie, Koyejo, Gupta,
  "Asynchronous federated optimization", 2019), applied update by update in arrival order; the
  staleness functions are constant, polynomial ``(t + 1)^-a`` and hinge (1 if t <= b, else
  ``1 / (a (t - b) + 1)``); the formula lives in :mod:`bcfl_env.aggregation_rule`.
* ``median``: coordinate-wise median; ``trimmed_mean``: drop a fraction at each end per coordinate
  (Yin et al., ICML 2018).
* ``multi_krum``: average the m updates with the smallest sum of squared distances to their
  U - f - 2 nearest neighbours (Blanchard et al., NeurIPS 2017).

Every sum over updates runs in a fixed order (one add per update), so a global model recomputed
from the ledger on CPU matches the recorded hash bit for bit, whatever the thread count.
"""

from __future__ import annotations

import numpy as np
import torch

from bcfl_env.aggregation_rule import AggregationRule

__all__ = [
    "aggregate",
    "apply_rule",
    "fedasync",
    "fedavg",
    "median",
    "multi_krum",
    "staleness_weight",
    "trimmed_mean",
]


def _ordered_sum(rows: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """``sum_i w_i rows_i`` accumulated row by row (a reduction order that never changes)."""
    total = torch.zeros_like(rows[0])
    for i in range(rows.shape[0]):
        total = total + (rows[i] if weights is None else weights[i] * rows[i])
    return total


def fedavg(params: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    w = weights.to(params.dtype)
    if params.shape[0] == 0 or float(w.sum()) <= 0:
        raise ValueError("fedavg needs at least one update with positive weight")
    return _ordered_sum(params, w) / _ordered_sum(w[:, None])[0]


def staleness_weight(
    staleness: torch.Tensor, fn: str, a: float = 0.5, b: float = 4.0
) -> torch.Tensor:
    """``s(t)`` as a float32 tensor (the formula of :class:`AggregationRule`)."""
    rule = AggregationRule("fedasync", staleness_fn=fn, staleness_a=a, staleness_b=b)
    return torch.as_tensor(rule.staleness_factor(staleness.cpu().numpy()), dtype=torch.float32)


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
    return _mix_in_order(global_params, params, mix.to(global_params.device)), mix


def _mix_in_order(
    global_params: torch.Tensor, params: torch.Tensor, mix: torch.Tensor
) -> torch.Tensor:
    x = global_params.clone()
    for i in range(params.shape[0]):
        x = (1 - mix[i]) * x + mix[i] * params[i]
    return x


def median(params: torch.Tensor) -> torch.Tensor:
    return params.median(dim=0).values if params.shape[0] % 2 else params.quantile(0.5, dim=0)


def trimmed_mean(params: torch.Tensor, fraction: float) -> torch.Tensor:
    u = params.shape[0]
    cut = int(fraction * u)
    if u - 2 * cut < 1:
        raise ValueError(f"fl.trim_fraction={fraction} leaves no update out of {u}")
    ordered = params.sort(dim=0).values
    return _ordered_sum(ordered[cut : u - cut]) / (u - 2 * cut)


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
    return _ordered_sum(params[chosen]) / len(chosen), chosen


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


def apply_rule(
    rule: AggregationRule,
    global_params: torch.Tensor,
    params: torch.Tensor,
    samples: np.ndarray,
    staleness: np.ndarray,
) -> tuple[torch.Tensor, np.ndarray]:
    """The new global model and each input's recorded weight: what the MBS does and the audit
    redoes from the ledger."""
    if params.shape[0] == 0:
        raise ValueError("aggregation needs at least one update")
    weights = rule.weights(samples, staleness)
    if rule.is_async:
        mix = torch.as_tensor(weights, dtype=global_params.dtype, device=global_params.device)
        return _mix_in_order(global_params, params, mix), weights
    counts = torch.as_tensor(np.asarray(samples, dtype=np.float32), device=params.device)
    new = aggregate(rule.rule, params, counts, trim_fraction=rule.trim_fraction, krum_f=rule.krum_f)
    return new, weights
