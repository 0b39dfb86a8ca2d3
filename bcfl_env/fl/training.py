"""Local training: one batched pass for K vehicles, and the sequential reference it must match.

Unequal data sizes are handled exactly by masking. Each vehicle i has its own batch plan: in each
of E epochs a fresh permutation of its n_i samples cut into ceil(n_i / B) batches (the last one
short). Plans are laid end to end and padded to the longest; a padded step has an all-zero sample
mask, contributes no gradient, and leaves that vehicle's parameters and momentum untouched. The
loss of a step is the mean over its real samples, so every vehicle takes exactly the SGD steps of
a plain per-vehicle loop (``torch.optim.SGD`` semantics: weight decay added to the gradient, then
momentum ``buf = mu buf + d``, first step ``buf = d``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bcfl_env.fl.models import ModelSpec

__all__ = [
    "BatchPlan",
    "SGDConfig",
    "batched_local_train",
    "make_batch_plan",
    "sequential_local_train",
]


@dataclass(frozen=True)
class SGDConfig:
    epochs: int = 1
    batch_size: int = 10
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0


@dataclass(frozen=True)
class BatchPlan:
    """Sample indices (K, steps, B) into the training set, -1 where padded."""

    index: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        return self.index >= 0

    @property
    def steps(self) -> int:
        return int(self.index.shape[1])


def make_batch_plan(
    vehicle_indices: list[np.ndarray], epochs: int, batch_size: int, rng: np.random.Generator
) -> BatchPlan:
    """Each vehicle's E epochs of shuffled mini-batches, padded to a common length."""
    per_epoch = [-(-idx.size // batch_size) for idx in vehicle_indices]  # ceil(n_i / B)
    steps = max(epochs * s for s in per_epoch)
    out = np.full((len(vehicle_indices), steps * batch_size), -1, dtype=np.int64)
    for k, idx in enumerate(vehicle_indices):
        span = per_epoch[k] * batch_size  # one epoch's batches, the last one padded
        for e in range(epochs):
            out[k, e * span : e * span + idx.size] = idx[rng.permutation(idx.size)]
    return BatchPlan(torch.from_numpy(out.reshape(len(vehicle_indices), steps, batch_size)))


def batched_local_train(
    spec: ModelSpec,
    init: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    plan: BatchPlan,
    sgd: SGDConfig,
    label_map: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train K models at once.

    Args:
        spec: model family.
        init: (K, P) starting parameters (each vehicle's received global model).
        x, y: the whole training set (on the training device); the plan indexes into it.
        plan: per-vehicle batch plan (K, steps, B).
        sgd: optimiser settings.
        label_map: optional (K, classes) label substitution (label-flipping attackers).

    Returns:
        (K, P) trained parameters and (K,) mean training loss over each vehicle's steps.
    """
    params = init.detach().clone()
    momentum = torch.zeros_like(params)
    k = params.shape[0]
    index = plan.index.to(x.device)
    mask_all = index >= 0
    active_all = mask_all.any(dim=2)  # (K, steps)
    loss_sum = torch.zeros(k, device=x.device)
    # labels, masks and indices for every step at once (fewer small ops per step); the inputs
    # are gathered step by step, since all of them at once would hold a copy of every sample
    safe = index.clamp(min=0)
    y_all = y[safe]  # (K, steps, B)
    if label_map is not None:
        y_all = label_map[torch.arange(k, device=x.device)[:, None, None], y_all]
    masks = mask_all.to(x.dtype)
    actives = active_all.to(x.dtype)[:, :, None]  # (K, steps, 1)
    for step in range(plan.steps):
        mask, xb, yb = masks[:, step], x[safe[:, step]], y_all[:, step]
        if spec.has_analytic_gradient:
            per_vehicle, grad = spec.loss_and_grad(params, xb, yb, mask)
        else:
            p = params.requires_grad_(True)
            logits = spec.forward(p, xb)
            per_sample = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), reduction="none"
            ).view(k, -1)
            counts = mask.sum(dim=1).clamp(min=1)
            per_vehicle = (per_sample * mask).sum(dim=1) / counts
            (grad,) = torch.autograd.grad(per_vehicle.sum(), p)
        with torch.no_grad():
            active = actives[:, step]
            d = grad + sgd.weight_decay * params if sgd.weight_decay else grad
            if sgd.momentum:
                # buf starts at zero, so a vehicle's first step gives buf = d as torch.optim.SGD does
                momentum = torch.where(active > 0, sgd.momentum * momentum + d, momentum)
                d = momentum
            params = (params - sgd.lr * active * d).detach()
            loss_sum += per_vehicle.detach() * active[:, 0]
    steps_taken = active_all.sum(dim=1).clamp(min=1).to(x.dtype)
    return params.detach(), loss_sum / steps_taken


def sequential_local_train(
    spec: ModelSpec,
    init: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    plan: BatchPlan,
    sgd: SGDConfig,
    label_map: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference: one vehicle at a time, a plain ``nn.Module`` and ``torch.optim.SGD`` loop."""
    outs, losses = [], []
    for k in range(init.shape[0]):
        model = spec.to_module(init[k])
        opt = torch.optim.SGD(
            model.parameters(), lr=sgd.lr, momentum=sgd.momentum, weight_decay=sgd.weight_decay
        )
        total, steps = 0.0, 0
        for step in range(plan.steps):
            idx = plan.index[k, step]
            idx = idx[idx >= 0]
            if idx.numel() == 0:
                continue
            yb = y[idx] if label_map is None else label_map[k][y[idx]]
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), yb)
            loss.backward()
            opt.step()
            total += loss.item()
            steps += 1
        outs.append(spec.from_module(model))
        losses.append(total / max(steps, 1))
    return torch.stack(outs), torch.tensor(losses)
