"""``pow_latency``: the rotating-leader BFT protocol with BlockFL's proof-of-work block latency.

This is a latency model, not proof of work: blocks are agreed and certified exactly as under
``bft`` (the same quorum certificate, the same audit), and only the time one attempt takes is
drawn as in BlockFL (Kim et al., IEEE Commun. Lett. 2020): an exponential block interval with mean
``pow_mean_block_s``, and a fork (probability ``pow_fork_prob``) costs another interval. Use it to
study how a slower, random block time changes selection, not to study mining.
"""

from __future__ import annotations

import numpy as np

from bcfl_env.chain.consensus.base import register_consensus
from bcfl_env.chain.consensus.bft import RotatingLeaderBFT

__all__ = ["PowLatencyBFT"]


@register_consensus
class PowLatencyBFT(RotatingLeaderBFT):
    kind = "pow_latency"
    parameters = (*RotatingLeaderBFT.parameters, "pow_mean_block_s", "pow_fork_prob")

    def attempt_latency_s(
        self, n_members: int, n_updates: int, block_bits: float, rng: np.random.Generator
    ) -> float:
        t = float(rng.exponential(self.cfg.pow_mean_block_s))
        while rng.random() < self.cfg.pow_fork_prob:  # a fork discards the block: mine again
            t += float(rng.exponential(self.cfg.pow_mean_block_s))
        return t
