"""Gymnasium environments, observation and reward builders, wrappers and rendering."""

from bcfl_env.envs.core import BCFLEnv
from bcfl_env.envs.observation import FEATURES, GLOBAL_FEATURES
from bcfl_env.envs.registration import ENV_IDS, register_envs
from bcfl_env.envs.wrappers import DiscreteSelection

__all__ = [
    "ENV_IDS",
    "FEATURES",
    "GLOBAL_FEATURES",
    "BCFLEnv",
    "DiscreteSelection",
    "register_envs",
]
