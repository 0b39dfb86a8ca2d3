"""The committee's norm screen, beside proof-of-quality validation.

An update's change ``delta = update - base`` must stay inside a norm bound, or its committee score
is :data:`OUT_OF_BOUND` (below any acceptance threshold):

* with DP, the bounds are the mechanism's own contract, known to every member: an honest update is
  clipped to ``C`` and then noised (Abadi et al., CCS 2016), so it must carry the noise it
  promised and no more than the clip allows. Gaussian (L2): the noise norm is about
  ``sigma C sqrt(P)``, nearly orthogonal to the clipped change in high dimension, so
  ``sigma C (sqrt(P) - 4) <= ||delta|| <= C + sigma C (sqrt(P) + 4)``; Laplace (L1, ``b = sigma C``):
  ``||noise||_1 ~ b P`` with standard deviation ``b sqrt(P)``, so
  ``b (P - 4 sqrt(P)) - C <= ||delta||_1 <= C + b (P + 4 sqrt(P))``;
* without DP, the bound is ``factor`` times the median norm of recently accepted updates (norm
  bounding against model replacement, Sun et al., "Can you really backdoor federated learning?",
  2019), or of this round's candidates before any update was accepted;
* a change of exactly zero is a free ride (the received model returned untrained) and is out of
  bound too (Lin et al., "Free-riders in federated learning", 2019).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import torch

__all__ = ["OUT_OF_BOUND", "NormScreen"]

OUT_OF_BOUND = -1.0  # committee score of an update outside the norm bound


class NormScreen:
    """Norm bound on update changes (see the module docstring).

    Args:
        factor: multiple of the reference norm allowed without DP.
        dp: ``none``, ``gaussian`` or ``laplace``.
        clip: the DP clip bound C.
        noise_multiplier: the DP noise multiplier sigma.
        num_params: P, the model's parameter count.
        history: how many accepted norms the reference remembers.
    """

    def __init__(
        self,
        factor: float,
        dp: str,
        clip: float,
        noise_multiplier: float,
        num_params: int,
        history: int = 64,
    ) -> None:
        self.factor = factor
        self.dp = dp
        self.ord = 1 if dp == "laplace" else 2
        self.accepted: deque[float] = deque(maxlen=history)
        scale, root = noise_multiplier * clip, math.sqrt(num_params)
        self.dp_floor = 0.0
        if dp == "gaussian":
            self.dp_bound: float | None = clip + scale * (root + 4.0)
            self.dp_floor = max(scale * (root - 4.0), 0.0)
        elif dp == "laplace":
            self.dp_bound = clip + scale * (num_params + 4.0 * root)
            self.dp_floor = max(scale * (num_params - 4.0 * root) - clip, 0.0)
        else:
            self.dp_bound = None

    def norms(self, updates: torch.Tensor, bases: torch.Tensor) -> np.ndarray:
        delta = (updates - bases).to(torch.float64)
        return delta.norm(p=self.ord, dim=1).cpu().numpy()

    def bound(self, candidate_norms: np.ndarray) -> float:
        if self.dp_bound is not None:
            return self.dp_bound
        reference = self.accepted or candidate_norms[np.isfinite(candidate_norms)]
        return self.factor * float(np.median(np.asarray(reference))) if len(reference) else math.inf

    def outside(self, norms: np.ndarray) -> np.ndarray:
        """Which updates are outside the bound (or free rides)."""
        return ~(norms <= self.bound(norms)) | (norms <= self.dp_floor) | (norms == 0.0)

    def record(self, accepted_norms: np.ndarray) -> None:
        self.accepted.extend(float(n) for n in accepted_norms if np.isfinite(n))
