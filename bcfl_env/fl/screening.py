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

Label screen (:func:`unlearning_share`, opt-in ``chain.label_screen``): a label flipper's update
and an honest non-IID one lower a member's validation accuracy alike, since both bias the model
toward a few labels. What differs is *which* inputs lose: training class-``a`` inputs under label
``b`` lowers the logit of ``a`` on class-``a`` inputs specifically and raises that of ``b`` on
inputs of another class, while honest training raises a label's logit most on its own inputs. Per
class ``c`` a member measures the update's discriminative change
``d_c = mean over c-inputs of dz_c - mean over other inputs of dz_c``, where ``dz`` is the change
of the logits from the global model to the update on its validation data, centred per input (the
softmax ignores a shift common to all of an input's logits), and rejects the update when the
unlearning share ``sum(max(-d_c, 0)) / sum(|d_c|)`` exceeds a limit. Logits rather than
log-probabilities, because log-probabilities saturate on classes the global model already knows,
where honest learning can no longer raise them but forgetting still lowers them. This reads the
classes' confusion structure, as defences built on the output layer do (Tolpegin et al., ESORICS
2020; Jebreel et al., LFighter, Neural Networks 2024), but needs neither clustering nor the
round's other updates.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import torch

__all__ = ["OUT_OF_BOUND", "NormScreen", "unlearning_share"]

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


def unlearning_share(
    delta_logits: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """The share of each update's class-discriminative change that is unlearning.

    Args:
        delta_logits: (U, N, C) change of the logits from the global model to each update, on N
            validation inputs (centred here per input).
        labels: (N,) the inputs' true labels.
        num_classes: C.

    Returns:
        (U,) shares in [0, 1]; 0 for an update that changes nothing discriminative. Classes with
        no input among ``labels`` (or only such inputs) do not count.
    """
    delta = delta_logits - delta_logits.mean(dim=-1, keepdim=True)
    onehot = torch.nn.functional.one_hot(labels, num_classes).to(delta.dtype)
    inside, outside = onehot.sum(0), (1 - onehot).sum(0)
    mean_in = torch.einsum("unc,nc->uc", delta, onehot) / inside.clamp(min=1)
    mean_out = torch.einsum("unc,nc->uc", delta, 1 - onehot) / outside.clamp(min=1)
    counted = (inside > 0) & (outside > 0)
    d = torch.where(counted, mean_in - mean_out, torch.zeros_like(mean_in))
    total = d.abs().sum(dim=1)
    share = d.clamp(max=0).abs().sum(dim=1) / total.clamp(min=torch.finfo(d.dtype).tiny)
    return torch.where(total > 0, share, torch.zeros_like(share))
