"""bcfl-gym: participant selection in blockchain-empowered federated learning over vehicular networks.

``import bcfl_env`` registers ``bcfl/IoV-v1``, ``bcfl/IIoT-v1`` and ``bcfl/IoHT-v1``, and makes
processes forked from this one start with one torch thread (see :mod:`bcfl_env.forksafe`).
"""

from bcfl_env.config import BCFLConfig, make_config, with_overrides
from bcfl_env.envs import (
    ENV_IDS,
    BCFLEnv,
    BCFLVectorEnv,
    DiscreteSelection,
    register_envs,
    unwrap,
    with_picked_column,
)
from bcfl_env.forksafe import install_fork_guard

register_envs()
install_fork_guard()

__version__ = "0.1.0"
__all__ = [
    "ENV_IDS",
    "BCFLConfig",
    "BCFLEnv",
    "BCFLVectorEnv",
    "DiscreteSelection",
    "__version__",
    "make_config",
    "register_envs",
    "unwrap",
    "with_overrides",
    "with_picked_column",
]
