"""Batched evaluation: K models on one data set in one forward pass, and many such passes
(one per world of a vector env) in one call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bcfl_env.fl.models import ModelSpec

__all__ = ["ForwardPass", "correctness", "evaluate", "forward_together", "logits"]

# inputs a batched call may copy out (each model reads its own pass's samples)
BATCH_INPUT_BYTES = 64 << 20
SAMPLE_CHUNK = 4096


@dataclass(frozen=True)
class ForwardPass:
    """M models (the rows of ``params``) evaluated on one data set ``x``, ``y``."""

    spec: ModelSpec
    params: torch.Tensor  # (M, P)
    x: torch.Tensor  # (N, *input_shape)
    y: torch.Tensor  # (N,)


@torch.no_grad()
def correctness(
    spec: ModelSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample correctness (K, N) as float and per-sample loss (K, N)."""
    k = params.shape[0]
    scored = [
        _hits_and_losses(spec.forward(params, x[s : s + chunk]), y[s : s + chunk].expand(k, -1))
        for s in range(0, x.shape[0], chunk)
    ]
    return torch.cat([h for h, _ in scored], dim=1), torch.cat([ls for _, ls in scored], dim=1)


def _hits_and_losses(z: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample correctness (as float) and cross-entropy of logits z (K, n, C) against the
    labels ys (K, n) each model is scored on."""
    hit = (z.argmax(dim=-1) == ys).float()
    loss = F.cross_entropy(z.reshape(-1, z.shape[-1]), ys.reshape(-1), reduction="none")
    return hit, loss.view(ys.shape)


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


def forward_together(passes: Sequence[ForwardPass]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-sample correctness and loss ((M_i, N) each) of every pass, as :func:`correctness`
    gives them, with passes of one dense model and one sample count batched into one call.

    A batched call gives every model its own pass's samples (copied out, up to
    :data:`BATCH_INPUT_BYTES` a call) and computes each model's row with the same kernels and
    shapes as a pass alone, so a world's results do not depend on the others in the call
    (``tests/test_vector_env.py`` checks this bit for bit). Convolutional models, whose
    kernels batch differently, run one pass at a time.
    """
    out: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(passes)
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, fp in enumerate(passes):
        if fp.spec.kind in ("logreg", "mlp") and len(passes) > 1:
            key = (fp.spec, tuple(fp.x.shape), fp.x.dtype, fp.x.device, fp.params.dtype)
            groups.setdefault(key, []).append(i)
        else:
            out[i] = correctness(fp.spec, fp.params, fp.x, fp.y)
    for members in groups.values():
        for chunk in _chunks(passes, members):
            results = _batched(passes, chunk)
            for i, result in zip(chunk, results, strict=True):
                out[i] = result
    done = [r for r in out if r is not None]
    assert len(done) == len(passes)  # every pass answered, in order
    return done


def _chunks(passes: Sequence[ForwardPass], members: list[int]) -> list[list[int]]:
    """``members`` in runs whose copied inputs fit :data:`BATCH_INPUT_BYTES` (one at least)."""
    chunks: list[list[int]] = [[]]
    used = 0
    for i in members:
        fp = passes[i]
        size = fp.params.shape[0] * fp.x.numel() * fp.x.element_size()
        if chunks[-1] and used + size > BATCH_INPUT_BYTES:
            chunks.append([])
            used = 0
        chunks[-1].append(i)
        used += size
    return chunks


@torch.no_grad()
def _batched(
    passes: Sequence[ForwardPass], chunk: list[int]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    spec = passes[chunk[0]].spec
    counts = [passes[i].params.shape[0] for i in chunk]
    params = torch.cat([passes[i].params for i in chunk])
    n = passes[chunk[0]].x.shape[0]
    scored = []
    for start in range(0, n, SAMPLE_CHUNK):  # the sample chunks correctness uses
        stop = min(start + SAMPLE_CHUNK, n)
        xs = torch.cat([
            passes[i].x[start:stop].unsqueeze(0).expand(m, *passes[i].x[start:stop].shape)
            for i, m in zip(chunk, counts, strict=True)
        ])  # fmt: skip
        ys = torch.cat([
            passes[i].y[start:stop].unsqueeze(0).expand(m, -1)
            for i, m in zip(chunk, counts, strict=True)
        ])  # fmt: skip
        scored.append(_hits_and_losses(spec.forward(params, xs), ys))
    hit = torch.cat([h for h, _ in scored], dim=1)
    loss = torch.cat([ls for _, ls in scored], dim=1)
    return list(zip(hit.split(counts), loss.split(counts), strict=True))
