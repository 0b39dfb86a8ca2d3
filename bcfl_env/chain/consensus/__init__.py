"""Consensus kinds, one module each, found by name in :data:`CONSENSUS`."""

from typing import get_args

from bcfl_env.chain.consensus.base import (
    CONSENSUS,
    CommitResult,
    Consensus,
    RoundContext,
    build_block,
    make_consensus,
    register_consensus,
    unregister_consensus,
)
from bcfl_env.chain.consensus.bft import RotatingLeaderBFT
from bcfl_env.chain.consensus.pow_latency import PowLatencyBFT
from bcfl_env.config import ConsensusKind

__all__ = [
    "CONSENSUS",
    "CommitResult",
    "Consensus",
    "PowLatencyBFT",
    "RotatingLeaderBFT",
    "RoundContext",
    "build_block",
    "make_consensus",
    "register_consensus",
    "unregister_consensus",
]

assert set(CONSENSUS) == set(get_args(ConsensusKind)), "registry and config differ"
