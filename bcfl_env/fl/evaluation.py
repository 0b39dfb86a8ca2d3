"""Batched evaluation: K models on one data set in one forward pass."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bcfl_env.fl.models import ModelSpec

__all__ = ["correctness", "evaluate", "logits"]


@torch.no_grad()
def correctness(
    spec: ModelSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample correctness (K, N) as float and per-sample loss (K, N)."""
    hits, losses = [], []
    for start in range(0, x.shape[0], chunk):
        xb, yb = x[start : start + chunk], y[start : start + chunk]
        logits = spec.forward(params, xb)
        hits.append((logits.argmax(dim=-1) == yb).float())
        k = params.shape[0]
        losses.append(
            F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), yb.repeat(k), reduction="none"
            ).view(k, -1)
        )
    return torch.cat(hits, dim=1), torch.cat(losses, dim=1)


def evaluate(
    spec: ModelSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(accuracy, mean loss) per model, each of shape (K,)."""
    hit, loss = correctness(spec, params, x, y)
    return hit.mean(dim=1), loss.mean(dim=1)


@torch.no_grad()
def logits(
    spec: ModelSpec, params: torch.Tensor, x: torch.Tensor, chunk: int = 4096
) -> torch.Tensor:
    """Per-sample logits (K, N, C) of K models."""
    return torch.cat(
        [spec.forward(params, x[s : s + chunk]) for s in range(0, x.shape[0], chunk)], dim=1
    )
