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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bcfl_env.fl.models import ModelSpec

__all__ = [
    "BatchPlan",
    "LocalBatches",
    "SGDConfig",
    "batched_local_train",
    "gather_batches",
    "make_batch_plan",
    "sequential_local_train",
    "stack_batches",
    "train_on_batches",
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


@dataclass(frozen=True)
class LocalBatches:
    """Every mini-batch of K vehicles' local training, gathered: ``inputs`` (K, steps, B, ...),
    ``labels`` and ``mask`` (K, steps, B); a padded sample has mask 0."""

    inputs: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor


def gather_batches(
    x: torch.Tensor, y: torch.Tensor, plan: BatchPlan, label_map: torch.Tensor | None = None
) -> LocalBatches:
    """The samples a batch plan names, gathered from the training set (x, y)."""
    index = plan.index.to(x.device)
    safe = index.clamp(min=0)
    return LocalBatches(x[safe], _labels(y, safe, label_map), index >= 0)


def stack_batches(parts: list[LocalBatches]) -> LocalBatches:
    """Rows of several gatherings (e.g. from several worlds) in one, padded to the longest plan
    with masked steps (a masked step leaves a row's parameters and momentum untouched)."""
    steps = max(p.mask.shape[1] for p in parts)

    def pad(t: torch.Tensor) -> torch.Tensor:
        extra = steps - t.shape[1]
        if extra == 0:
            return t
        return torch.cat([t, t.new_zeros((t.shape[0], extra, *t.shape[2:]))], dim=1)

    return LocalBatches(
        torch.cat([pad(p.inputs) for p in parts]),
        torch.cat([pad(p.labels) for p in parts]),
        torch.cat([pad(p.mask) for p in parts]),
    )


def _labels(y: torch.Tensor, safe: torch.Tensor, label_map: torch.Tensor | None) -> torch.Tensor:
    labels = y[safe]  # (K, steps, B)
    if label_map is not None:
        rows = torch.arange(safe.shape[0], device=safe.device)[:, None, None]
        labels = label_map[rows, labels]
    return labels


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
    index = plan.index.to(x.device)
    # the inputs are gathered step by step: all of them at once would hold a copy of every
    # sample each vehicle visits (labels and masks are small, so those are gathered at once)
    safe = index.clamp(min=0)
    return _sgd(
        spec, init, lambda step: x[safe[:, step]], _labels(y, safe, label_map), index >= 0, sgd
    )


def train_on_batches(
    spec: ModelSpec, init: torch.Tensor, batches: LocalBatches, sgd: SGDConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`batched_local_train` on batches gathered beforehand (:func:`gather_batches`,
    :func:`stack_batches`): the rows may come from different training sets."""
    return _sgd(spec, init, lambda step: batches.inputs[:, step], batches.labels, batches.mask, sgd)


def _sgd(
    spec: ModelSpec,
    init: torch.Tensor,
    inputs_at: Callable[[int], torch.Tensor],
    y_all: torch.Tensor,
    mask_all: torch.Tensor,
    sgd: SGDConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SGD loop shared by both entry points: row k takes exactly its own masked steps.

    What every step needs from the masks and labels is built for all steps at once before the
    loop (the models are small enough that a step costs its number of torch calls); each value is
    the one a step would compute for itself, so the result is the same bit for bit.
    """
    analytic = spec.has_analytic_gradient
    params = init.detach().clone()
    momentum = torch.zeros_like(params)
    k = params.shape[0]
    active_all = mask_all.any(dim=2)  # (K, steps)
    loss_sum = torch.zeros(k, device=params.device)
    masks = mask_all.to(params.dtype)
    actives = active_all.to(params.dtype)[:, :, None]  # (K, steps, 1)
    moving, step_size, counted = actives > 0, sgd.lr * actives, actives[:, :, 0]
    if analytic:
        weights = (masks / masks.sum(dim=2, keepdim=True).clamp(min=1)).unsqueeze(3)
        labels = y_all.unsqueeze(3)  # (K, steps, B, 1)
        one_hot = torch.zeros(
            *y_all.shape, spec.num_classes, dtype=params.dtype, device=params.device
        )
        one_hot.scatter_(3, labels, 1.0)
    for step in range(mask_all.shape[1]):
        if analytic:
            per_vehicle, grad = spec.loss_and_grad(
                params, inputs_at(step), labels[:, step], one_hot[:, step], weights[:, step]
            )
        else:
            mask, xb, yb = masks[:, step], inputs_at(step), y_all[:, step]
            p = params.requires_grad_(True)
            logits = spec.forward(p, xb)
            per_sample = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), reduction="none"
            ).view(k, -1)
            counts = mask.sum(dim=1).clamp(min=1)
            per_vehicle = (per_sample * mask).sum(dim=1) / counts
            (grad,) = torch.autograd.grad(per_vehicle.sum(), p)
            per_vehicle = per_vehicle.detach()
        with torch.no_grad():
            d = grad + sgd.weight_decay * params if sgd.weight_decay else grad
            if sgd.momentum:
                # buf starts at zero, so a vehicle's first step gives buf = d as torch.optim.SGD does
                momentum = torch.where(moving[:, step], sgd.momentum * momentum + d, momentum)
                d = momentum
            params = params - step_size[:, step] * d
            if not analytic:
                params = params.detach()
            loss_sum += per_vehicle * counted[:, step]
    steps_taken = active_all.sum(dim=1).clamp(min=1).to(params.dtype)
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
