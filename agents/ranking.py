"""A Plackett-Luce distribution over selections: K slots picked in turn without replacement.

Pick j is a softmax over the logits of the eligible slots not yet picked (Plackett 1975, Luce
1959), so a selection's log-probability is a sum of K log-softmax terms and only the slots that
are actually selected carry gradient. That is the action's real structure: the env takes the top K
eligible scores, so a Gaussian per slot spends its likelihood on the order of slots that are never
selected. Sampling uses the Gumbel-top-k trick (Kool, van Hoof, Welling, ICML 2019): perturb the
logits with Gumbel noise and take the top K, which draws the ordered picks exactly.

An ordered selection travels through the env's ``Box(-1, 1, (N,))`` action space as scores: pick j
gets ``1 - j / K`` (all > 0, decreasing) and unpicked slots get -1, so the env's top-K rule
selects exactly the picks and :func:`picks_from_scores` reads the order back from a stored action.
"""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.distributions import Distribution

__all__ = ["PlackettLuceDistribution", "picks_from_scores", "scores_from_picks"]

_NEG = -1e9  # logit of a slot that cannot be picked (finite: keeps log-softmax NaN-free)


def scores_from_picks(picks: torch.Tensor, valid: torch.Tensor, n: int) -> torch.Tensor:
    """Encode ordered picks (B, K) as (B, N) scores: ``1 - j / K`` for pick j, -1 elsewhere."""
    b, k = picks.shape
    rank_score = 1.0 - torch.arange(k, dtype=torch.float32, device=picks.device) / k
    values = torch.where(valid, rank_score.expand(b, k), torch.full_like(rank_score, -1.0))
    scores = torch.full((b, n), -1.0, dtype=torch.float32, device=picks.device)
    return scores.scatter(1, picks, values)  # picks are distinct per row (a top-k)


def picks_from_scores(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode (B, N) scores into ordered picks (B, K) and their validity (score > 0)."""
    top, picks = scores.topk(k, dim=1)
    return picks, top > 0


class PlackettLuceDistribution(Distribution):
    """Ordered selection of up to K of N slots; K may vary by row (fewer eligible slots).

    Call :meth:`proba_distribution` with logits (B, N), an eligibility mask (B, N) and the number
    of picks per row (B,) before sampling or scoring.
    """

    def __init__(self) -> None:
        super().__init__()
        self.n = self.k_max = 0
        self.logits: torch.Tensor | None = None
        self.eligible: torch.Tensor | None = None
        self.picks_per_row: torch.Tensor | None = None

    def proba_distribution_net(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the slot policy builds its own score head")

    def proba_distribution(
        self, logits: torch.Tensor, eligible: torch.Tensor, picks_per_row: torch.Tensor
    ) -> PlackettLuceDistribution:
        self.logits = torch.where(eligible, logits, torch.full_like(logits, _NEG))
        self.eligible = eligible
        self.picks_per_row = torch.minimum(picks_per_row.long(), eligible.sum(dim=1))
        self.n = logits.shape[1]
        self.k_max = max(int(picks_per_row.max().item()) if picks_per_row.numel() else 1, 1)
        return self

    def _state(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.logits is None or self.eligible is None or self.picks_per_row is None:
            raise RuntimeError("call proba_distribution() first")
        return self.logits, self.eligible, self.picks_per_row

    def _valid(self) -> torch.Tensor:
        logits, _, m = self._state()
        steps = torch.arange(self.k_max, device=logits.device)
        return steps.unsqueeze(0) < m.unsqueeze(1)  # (B, K)

    def _per_pick(self, picks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of each conditional pick along ``picks`` (B, K)."""
        logits, eligible, _ = self._state()
        available = eligible.clone()
        log_probs, entropies = [], []
        for j in range(self.k_max):
            masked = torch.where(available, logits, torch.full_like(logits, _NEG))
            log_softmax = torch.log_softmax(masked, dim=1)
            log_probs.append(log_softmax.gather(1, picks[:, j : j + 1]).squeeze(1))
            p = log_softmax.exp() * available
            entropies.append(-(p * torch.where(available, log_softmax, 0.0)).sum(dim=1))
            available = available & ~torch.nn.functional.one_hot(picks[:, j], self.n).bool()
        return torch.stack(log_probs, dim=1), torch.stack(entropies, dim=1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        picks, _ = picks_from_scores(actions, self.k_max)
        valid = self._valid()
        log_probs, _ = self._per_pick(picks)
        return (log_probs * valid).sum(dim=1)

    def entropy_along(self, actions: torch.Tensor) -> torch.Tensor:
        """Sum of the conditional entropies along the given picks: by the chain rule, an unbiased
        estimate of the selection's entropy when the picks are the policy's own samples."""
        picks, _ = picks_from_scores(actions, self.k_max)
        _, entropies = self._per_pick(picks)
        return (entropies * self._valid()).sum(dim=1)

    def entropy(self) -> torch.Tensor:
        """Entropy of the first pick (the joint entropy needs picks: see :meth:`entropy_along`)."""
        logits, eligible, _ = self._state()
        log_softmax = torch.log_softmax(logits, dim=1)
        return -(log_softmax.exp() * torch.where(eligible, log_softmax, 0.0)).sum(dim=1)

    def _encode(self, keys: torch.Tensor) -> torch.Tensor:
        _, eligible, _ = self._state()
        keys = torch.where(eligible, keys, torch.full_like(keys, -float("inf")))
        picks = keys.topk(self.k_max, dim=1).indices
        return scores_from_picks(picks, self._valid(), self.n)

    def sample(self) -> torch.Tensor:
        logits, _, _ = self._state()
        u = torch.rand_like(logits).clamp(min=1e-12, max=1.0 - 1e-7)
        return self._encode(logits - torch.log(-torch.log(u)))

    def mode(self) -> torch.Tensor:
        return self._encode(self._state()[0])

    def actions_from_params(
        self,
        logits: torch.Tensor,
        eligible: torch.Tensor,
        picks_per_row: torch.Tensor,
        deterministic: bool = False,
    ) -> torch.Tensor:
        self.proba_distribution(logits, eligible, picks_per_row)
        return self.get_actions(deterministic=deterministic)

    def log_prob_from_params(
        self, logits: torch.Tensor, eligible: torch.Tensor, picks_per_row: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        actions = self.actions_from_params(logits, eligible, picks_per_row)
        return actions, self.log_prob(actions)
