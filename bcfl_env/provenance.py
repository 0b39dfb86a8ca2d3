"""Recompute a global model from the ledger: the deep audit's arithmetic.

The chain cannot import the FL engine, so the audit takes this function as ``recompute``:
``ledger.verify(recompute=recompute_model)`` rebuilds every global model from its recorded base
and inputs with the same rule the MBS applied (:func:`bcfl_env.fl.aggregation.apply_rule`, whose
sums run in a fixed order) and checks the SHA-256 the MBS recorded. Exact on CPU; a ledger written
by a run on CUDA may differ in the last bits.
"""

from __future__ import annotations

import numpy as np
import torch

from bcfl_env.aggregation_rule import AggregationRule
from bcfl_env.fl.aggregation import apply_rule

__all__ = ["recompute_model"]


def _tensor(blob: bytes) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(blob, dtype=np.float32).copy())


def recompute_model(
    rule: AggregationRule,
    base: bytes,
    inputs: list[bytes],
    samples: np.ndarray,
    staleness: np.ndarray,
) -> bytes:
    """The new global model's bytes (float32, as the engine stores them).

    Raises:
        ValueError: inputs of another size, or a result that is not finite.
    """
    if any(len(blob) != len(base) for blob in inputs):
        raise ValueError("an input's parameter count differs from the base model's")
    params = torch.stack([_tensor(blob) for blob in inputs])
    new, _ = apply_rule(rule, _tensor(base), params, samples, staleness)
    if not torch.isfinite(new).all():  # a deployment must never publish such a model
        raise ValueError("the recomputed global model is not finite")
    return new.contiguous().numpy().tobytes()
