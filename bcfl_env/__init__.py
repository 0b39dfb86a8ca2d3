"""bcfl-gym: participant selection in blockchain-empowered federated learning over vehicular networks.

``import bcfl_env`` registers ``bcfl/IoV-v1``, ``bcfl/IIoT-v1`` and ``bcfl/IoHT-v1``.
"""

from bcfl_env.config import BCFLConfig, make_config, with_overrides
from bcfl_env.envs import ENV_IDS, BCFLEnv, DiscreteSelection, register_envs, with_picked_column

register_envs()

__version__ = "0.1.0"
__all__ = [
    "ENV_IDS",
    "BCFLConfig",
    "BCFLEnv",
    "DiscreteSelection",
    "__version__",
    "make_config",
    "register_envs",
    "with_overrides",
    "with_picked_column",
]
